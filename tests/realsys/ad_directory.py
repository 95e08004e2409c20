"""A real OpenLDAP ``slapd`` shaped like an Active Directory domain controller.

What Keycloak's AD mode (``vendor: ad``) and the rendered mappers depend on is
there: entries of object classes ``person, organizationalPerson, user`` named
by ``cn`` ("Surname Given", as the cities' AD writes it), ``sAMAccountName``,
``userPrincipalName``, a unique 16-byte binary ``objectGUID`` (octet string,
as AD's), ``userAccountControl`` and ``pwdLastSet`` (MSAD account controls),
``whenCreated``/``whenChanged``, ``mail``, ``givenName``, ``sn``,
``displayName``; groups of class ``group`` with ``member`` DNs and the users'
``memberOf`` kept by the memberof overlay; LDAPS only (port 636) with a
certificate from a test CA; anonymous reads nothing, the bind account reads,
each user may bind.

What it is not: AD's ``LDAP_MATCHING_RULE_IN_CHAIN`` (1.2.840.113556.1.4.1941)
does not exist in OpenLDAP, so the group lookup for ``ldap.group_membership:
nested`` cannot be proven here; ``member_of`` can. No AD bind error codes
(``data 532`` etc.), no Kerberos.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tests.realsys.images import build_package_image, inputs_hash, toolchain
from tests.realsys.pod_runner import TEST_LABEL, PodError, podman
from tests.realsys.tls import TestCA

OPENLDAP_IMAGE = "localhost/ociam-openldap"

#: AD's attributes and classes, with AD's own OIDs (``user`` is auxiliary here, so that
#: it can sit beside inetOrgPerson as in the connector scenario's directory)
AD_ATTRIBUTES = (
    "( 1.2.840.113556.1.4.221 NAME 'sAMAccountName' EQUALITY caseIgnoreMatch "
    "SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )",
    "( 1.2.840.113556.1.4.656 NAME 'userPrincipalName' EQUALITY caseIgnoreMatch "
    "SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.15 SINGLE-VALUE )",
    "( 1.2.840.113556.1.4.2 NAME 'objectGUID' EQUALITY octetStringMatch "
    "SYNTAX 1.3.6.1.4.1.1466.115.121.1.40{16} SINGLE-VALUE )",
    "( 1.2.840.113556.1.4.8 NAME 'userAccountControl' EQUALITY integerMatch "
    "SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )",
    "( 1.2.840.113556.1.4.96 NAME 'pwdLastSet' EQUALITY integerMatch "
    "SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )",
    "( 1.2.840.113556.1.2.2 NAME 'whenCreated' EQUALITY generalizedTimeMatch "
    "ORDERING generalizedTimeOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 SINGLE-VALUE )",
    "( 1.2.840.113556.1.2.3 NAME 'whenChanged' EQUALITY generalizedTimeMatch "
    "ORDERING generalizedTimeOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.24 SINGLE-VALUE )",
)
AD_CLASSES = (
    "( 1.2.840.113556.1.5.9 NAME 'user' SUP top AUXILIARY MUST ( sAMAccountName $ objectGUID ) "
    "MAY ( userPrincipalName $ userAccountControl $ pwdLastSet $ whenCreated $ whenChanged $ "
    "mail $ givenName $ displayName ) )",
    "( 1.2.840.113556.1.5.8 NAME 'group' SUP top STRUCTURAL MUST ( cn $ objectGUID ) "
    "MAY ( member $ sAMAccountName $ description $ whenCreated $ whenChanged ) )",
)


def schema_conf() -> str:
    """The AD schema for slapd.conf."""
    lines = [f"attributetype {a}" for a in AD_ATTRIBUTES]
    lines += [f"objectclass {c}" for c in AD_CLASSES]
    return "\n".join(lines) + "\n"


def schema_ldif() -> str:
    """The AD schema as a cn=config entry (``ldapadd -Y EXTERNAL -H ldapi:///``)."""
    lines = ["dn: cn=ad,cn=schema,cn=config", "objectClass: olcSchemaConfig", "cn: ad"]
    lines += [f"olcAttributeTypes: {a}" for a in AD_ATTRIBUTES]
    lines += [f"olcObjectClasses: {c}" for c in AD_CLASSES]
    return "\n".join(lines) + "\n"


_ENTRYPOINT = """\
set -eu
mkdir -p /var/lib/ldap /run/slapd
slapadd -f /etc/ldap/ad/slapd.conf -l /etc/ldap/ad/base.ldif >/dev/null
slapd -f /etc/ldap/ad/slapd.conf -h "ldaps:/// ldapi:///" -d none &
pid=$!
until ldapwhoami -Q -Y EXTERNAL -H ldapi:/// >/dev/null 2>&1; do
    kill -0 "$pid" || exit 1
    sleep 0.2
done
# online, so that the memberof overlay writes each member's memberOf
ldapadd -Q -Y EXTERNAL -H ldapi:/// -f /etc/ldap/ad/entries.ldif >/dev/null
touch /run/slapd/seeded
wait "$pid"
"""


def openldap_tag() -> str:
    package = toolchain()["openldap_image"]["server_package"]
    return f"{OPENLDAP_IMAGE}:{package}"


def build_openldap(force: bool = False) -> str:
    """The slapd image (Debian's package, debootstrapped from this machine's mirror)."""
    settings = toolchain()["openldap_image"]
    return build_package_image(
        openldap_tag(),
        inputs_hash(settings, _ENTRYPOINT),
        suite=settings["suite"],
        packages=[settings["server_package"], "ldap-utils"],
        empty_dirs=["var/lib/ldap"],
        changes=["ENV LANG=C.UTF-8", "EXPOSE 636"],
        description="ociam OpenLDAP (AD-shaped) test image",
        force=force,
    )


@dataclass(frozen=True)
class Employee:
    """One AD user account."""

    sam_account_name: str
    given_name: str
    surname: str
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18) + "Aa1!", repr=False)
    groups: tuple[str, ...] = ()
    guid: bytes = field(default_factory=lambda: secrets.token_bytes(16))

    @property
    def cn(self) -> str:
        return f"{self.surname} {self.given_name}"


def _ssha(password: str) -> str:
    salt = secrets.token_bytes(8)
    digest = hashlib.sha1(password.encode() + salt).digest()
    return "{SSHA}" + base64.b64encode(digest + salt).decode()


def _b64(value: str | bytes) -> str:
    raw = value.encode() if isinstance(value, str) else value
    return base64.b64encode(raw).decode()


def _suffix(users_dn: str) -> str:
    return ",".join(p for p in users_dn.split(",") if p.strip().upper().startswith("DC="))


@dataclass
class ADDirectory:
    """One domain controller of a city's AD: a slapd container on ``network`` at ``ip``."""

    name: str
    network: str
    ip: str
    tls_server_name: str
    users_dn: str
    groups_dn: str
    bind_dn: str
    bind_password: str = field(repr=False)
    employees: Sequence[Employee]
    ca: TestCA
    work_dir: Path
    host_name: str = ""
    domain: str = ""
    image: str = field(default_factory=openldap_tag)

    @property
    def suffix(self) -> str:
        return _suffix(self.users_dn)

    def _slapd_conf(self) -> str:
        return f"""\
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/ad/ad.schema
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload memberof
pidfile /run/slapd/slapd.pid
TLSCACertificateFile /etc/ldap/ad/tls/ca.pem
TLSCertificateFile /etc/ldap/ad/tls/dc.pem
TLSCertificateKeyFile /etc/ldap/ad/tls/dc.key
TLSProtocolMin 3.3
security ssf=1
disallow bind_anon
sizelimit 1000
database mdb
maxsize 104857600
suffix "{self.suffix}"
rootdn "gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth"
directory /var/lib/ldap
index objectClass,sAMAccountName,cn,member,mail,userPrincipalName eq
index objectGUID eq
overlay memberof
memberof-group-oc group
memberof-member-ad member
memberof-memberof-ad memberOf
memberof-refint TRUE
access to attrs=userPassword by anonymous auth by self write by * none
access to * by users read by * none
"""

    def _entries(self) -> str:
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%d%H%M%S.0Z")
        blocks: list[list[str]] = []
        ous = {dn.split(",", 1)[1] for dn in (self.bind_dn,)} | {self.users_dn, self.groups_dn}
        for ou in sorted(ous, key=len):
            parts = [p for p in ou.split(",") if not p.upper().startswith("DC=")]
            for depth in range(len(parts), 0, -1):
                dn = ",".join(parts[depth - 1 :]) + "," + self.suffix
                label = parts[depth - 1].split("=", 1)[1]
                block = [f"dn: {dn}", "objectClass: organizationalUnit", f"ou: {label}"]
                if block not in blocks:
                    blocks.append(block)
        service = self.bind_dn.split(",", 1)[0].split("=", 1)[1]
        blocks.append(
            self._user(self.bind_dn, service, service, service, self.bind_password, stamp)
        )
        groups: dict[str, list[str]] = {}
        for employee in self.employees:
            dn = f"CN={employee.cn},{self.users_dn}"
            block = self._user(
                dn, employee.sam_account_name, employee.given_name, employee.surname,
                employee.password, stamp, employee.guid,
            )  # fmt: skip
            blocks.append(block)
            for group in employee.groups:
                groups.setdefault(group, []).append(dn)
        for group, members in sorted(groups.items()):
            blocks.append(
                [
                    f"dn: CN={group},{self.groups_dn}",
                    "objectClass: group",
                    f"cn: {group}",
                    f"sAMAccountName: {group}",
                    f"objectGUID:: {_b64(secrets.token_bytes(16))}",
                    *[f"member: {m}" for m in members],
                ]
            )
        return "\n\n".join("\n".join(b) for b in blocks) + "\n"

    def _user(
        self,
        dn: str,
        sam: str,
        given: str,
        surname: str,
        password: str,
        stamp: str,
        guid: bytes | None = None,
    ) -> list[str]:
        return [
            f"dn:: {_b64(dn)}",
            "objectClass: top",
            "objectClass: person",
            "objectClass: organizationalPerson",
            "objectClass: user",  # auxiliary, as the schema above has it
            f"cn:: {_b64(dn.split(',', 1)[0].split('=', 1)[1])}",
            f"sn:: {_b64(surname)}",
            f"givenName:: {_b64(given)}",
            f"displayName:: {_b64(f'{given} {surname}')}",
            f"sAMAccountName: {sam}",
            f"userPrincipalName: {sam}@{self.domain or self.tls_server_name}",
            f"mail: {sam}@{self.domain or self.tls_server_name}",
            f"objectGUID:: {_b64(guid or secrets.token_bytes(16))}",
            "userAccountControl: 512",
            "pwdLastSet: 134000000000000000",
            f"whenCreated: {stamp}",
            f"whenChanged: {stamp}",
            f"userPassword:: {_b64(_ssha(password))}",
        ]

    def start(self, timeout: float = 60) -> None:
        config = self.work_dir / "ad"
        shutil.rmtree(config, ignore_errors=True)
        (config / "tls").mkdir(parents=True)
        pair = self.ca.server([self.tls_server_name, *([self.host_name] if self.host_name else [])])
        files = {
            "ad.schema": schema_conf(),
            "slapd.conf": self._slapd_conf(),
            "base.ldif": f"dn: {self.suffix}\nobjectClass: top\nobjectClass: domain\n"
            f"dc: {self.suffix.split(',')[0].split('=')[1]}\n",
            "entries.ldif": self._entries(),
            "tls/ca.pem": self.ca.certificate_pem,
            "tls/dc.pem": pair.certificate_pem,
            "tls/dc.key": pair.key_pem,
        }
        for name, text in files.items():
            (config / name).write_text(text, encoding="utf-8")
            (config / name).chmod(0o600)
        podman("rm", "--force", "--time", "0", self.name, check=False)
        podman(
            "run", "--detach", "--name", self.name, "--label", f"{TEST_LABEL}=ad",
            "--runtime", "runc", "--network", f"{self.network}:ip={self.ip}",
            "--volume", f"{config}:/etc/ldap/ad:ro", "--pull=never",
            "--entrypoint", '["/bin/sh", "-c"]', self.image, _ENTRYPOINT,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.running() and self._exec("test", "-e", "/run/slapd/seeded").returncode == 0:
                return
            if not self.running():
                break
            time.sleep(0.3)
        logs = podman("logs", self.name, check=False)
        raise PodError(f"AD stand-in {self.name} did not start: {logs[-2000:]}")

    def _exec(self, *command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["podman", "exec", self.name, *command],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip

    def running(self) -> bool:
        state = podman("inspect", "--format", "{{.State.Running}}", self.name, check=False)
        return state.strip() == "true"

    def search(self, base: str, ldap_filter: str, *attributes: str) -> str:
        """``ldapsearch`` as the directory's root over ldapi (for the tests' own checks)."""
        result = self._exec(
            "ldapsearch", "-Q", "-LLL", "-Y", "EXTERNAL", "-H", "ldapi:///", "-b", base,
            ldap_filter, *attributes,
        )  # fmt: skip
        if result.returncode != 0:
            raise PodError(f"ldapsearch {ldap_filter}: {result.stderr.strip()}")
        return result.stdout

    def pause(self) -> None:
        """The domain controller goes away (its process stops answering, as a crashed DC)."""
        podman("stop", "--time", "0", self.name)

    def stop(self) -> None:
        podman("rm", "--force", "--time", "0", self.name, check=False)


if __name__ == "__main__":
    # the connector scenario's prepare reads the schema from here (one definition)
    if sys.argv[1:] != ["schema-ldif"]:
        sys.exit("usage: python -m tests.realsys.ad_directory schema-ldif")
    sys.stdout.write(schema_ldif())
