"""The demo city rendered from a scratch catalog and running, with an AD to log in through.

The demo city of ``dev`` is rendered by ``ociam render`` from a scratch copy of
the catalog (so tests may change it and render again, as a platform engineer
would), with two changes a city with this directory would make: the test CA
of its domain controllers in ``ldap.ca_certificate`` and
``ldap.group_membership: member_of`` (OpenLDAP has no AD in-chain matching
rule, see tests/realsys/ad_directory.py). Its Keycloak pod runs from the
render (tests/keycloak/deployment.py, the keycloak tier's test kubelet); its
employees realm is imported from the render as the apply Job reads it.

The directory (:func:`start_direct_city`): two AD-shaped OpenLDAP domain
controllers with LDAPS. Keycloak reaches them under the rendered LDAP URL: its
host name is a rendered ``hostAlias`` for the city's hub service address; here
that address is a domain controller itself on a network standing in for the
hub's service network (the direct path). The connector path (hub, WireGuard,
HAProxy) is tests/logins/connector_path.py's.
"""

from __future__ import annotations

import ipaddress
import os
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from ociam.catalog.secrets import SecretRef
from ociam.realms.placeholders import env_name
from tests.keycloak import gateway
from tests.keycloak.admin import KeycloakAdmin
from tests.keycloak.config_cli import convert_extensions, read_like_config_cli
from tests.keycloak.deployment import (
    OCIAM,
    SUBSTITUTED_SECRET,
    CityDeployment,
    ImageSet,
    RenderedStack,
    RunningCity,
    TestValues,
    cluster_state,
    job_env,
    render,
    run_city,
)
from tests.keycloak.realm_import import import_realm, reimport
from tests.realsys.ad_directory import ADDirectory, Employee
from tests.realsys.pod_runner import TEST_LABEL, Pod, podman
from tests.realsys.pulumi_env import copy_checkout
from tests.realsys.tls import TestCA

__all__ = ["CITY", "ENV", "SUBSTITUTED_SECRET", "LoginCity", "secret_env", "start_direct_city"]

ENV, CITY = "dev", "demo"
HUB_NETWORK = "ociam-logins-hub"
#: the address Keycloak's pod gets on the hub service network stand-in
POD_HUB_ADDRESS_INDEX = 10
#: the second domain controller's address on it (the first is the hub service address)
SECOND_DC_INDEX = 12
READY_WAIT_SECONDS = 120


def secret_env(ref: str) -> str:
    """The ``$(env:...)`` name of a catalog ``{pulumi_secret: ref}``."""
    return env_name(SecretRef(pulumi_secret=ref))


@dataclass
class LoginCity:
    """The rendered demo city, running, with its employees realm imported."""

    checkout: Path
    out: Path
    running: RunningCity
    values: TestValues
    directory: list[ADDirectory]
    employees: dict[str, Employee]
    stack: RenderedStack = field(init=False)
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.stack = self.running.deployment.stack

    @property
    def deployment(self) -> CityDeployment:
        return self.running.deployment

    @property
    def pod(self) -> Pod:
        return self.running.pod

    @property
    def public_host(self) -> str:
        return self.deployment.public_host

    def issuer(self, realm: str) -> str:
        return f"https://{self.public_host}/realms/{realm}"

    def admin(self) -> KeycloakAdmin:
        """The bootstrap admin: test scaffolding and reading events, never a login."""
        return self.deployment.bootstrap_admin()

    def browser(self, extra_routes: Sequence[gateway.Route] = ()) -> requests.Session:
        """A browser through the gateway; as a Service would, it waits for a ready pod
        (a readiness probe may fail for a moment on a loaded machine)."""
        self.pod.wait_ready(READY_WAIT_SECONDS)
        return self.deployment.browser(extra_routes=extra_routes)

    def secret(self, ref: str) -> str:
        """The raw test value of a catalog ``{pulumi_secret: ref}`` used in the realms."""
        return self.values.raw(SUBSTITUTED_SECRET, secret_env(ref))

    @property
    def domain(self) -> str:
        """The city's mail domain (``city.domain`` of its file)."""
        return str(self.city_document()["city"]["domain"])

    def city_file(self) -> Path:
        return self.checkout / "inventories" / ENV / "group_vars" / f"{CITY}.yml"

    def city_document(self) -> dict[str, Any]:
        """The city file of the scratch catalog, as it is now."""
        document: dict[str, Any] = yaml.safe_load(self.city_file().read_text(encoding="utf-8"))
        return document

    def edit_city(self, change: Any) -> None:
        """``change(document)`` on the city file of the scratch catalog (a plain dump)."""
        path = self.city_file()
        document = self.city_document()
        change(document)
        path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")

    def rerender(self) -> RenderedStack:
        """``ociam render`` of the scratch catalog again; the running pod keeps its spec."""
        (self.stack,) = render(self.out, ENV, CITY, root=self.checkout)
        self.running.deployment.stack = self.stack
        return self.stack

    def realm_document(self, realm: str) -> dict[str, Any]:
        env = job_env(self.stack, "apply", cluster_state(self.stack, self.values))
        documents = read_like_config_cli(self.stack.job_files("apply"), env)
        return dict(documents[f"realm-{realm}.json"])

    def ociam(self, *args: str) -> subprocess.CompletedProcess[str]:
        """The project's CLI on the scratch catalog, as a platform engineer runs it."""
        return subprocess.run(
            [str(OCIAM), *args],
            cwd=self.checkout,
            env={**os.environ, "OCIAM_ROOT": str(self.checkout)},
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )

    def close(self) -> None:
        """Stop what :func:`start_direct_city` started (idempotent)."""
        while self.cleanups:
            self.cleanups.pop()()

    def apply_realm(self, realm: str, *, fresh: bool = True) -> None:
        """The current render's realm file into Keycloak as the apply Job reads it:
        imported anew (``fresh``), or applied onto the realm that is there."""
        converted = convert_extensions(self.realm_document(realm))
        if fresh:
            import_realm(self.admin(), converted)
        else:
            reimport(self.admin(), converted)


def employees() -> dict[str, Employee]:
    people = [
        Employee("aino.virtanen", "Aino", "Virtanen", groups=("IAM-Users", "Intranet-Editors")),
        Employee("matti.korhonen", "Matti", "Korhonen", groups=("IAM-Users",)),
        Employee("liisa.lukko", "Liisa", "Lukko", groups=("IAM-Users",)),
        Employee("pekka.vaihto", "Pekka", "Vaihto", groups=("IAM-Users",)),
        Employee("sanna.muutos", "Sanna", "Muutos", groups=("IAM-Users",)),
        Employee("eeva.linkki", "Eeva", "Linkki", groups=("IAM-Users", "Intranet-Editors")),
    ]
    return {p.sam_account_name: p for p in people}


def _prepare_catalog(checkout: Path, ca: TestCA) -> None:
    path = checkout / "inventories" / ENV / "group_vars" / f"{CITY}.yml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["ldap"]["ca_certificate"] = ca.certificate_pem
    document["ldap"]["group_membership"] = "member_of"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def _connect(pod: Pod, network: str, ip: str) -> None:
    infra = podman("pod", "inspect", "--format", "{{.InfraContainerID}}", pod.name).strip()
    podman("network", "connect", "--ip", ip, network, infra)


def _remove_hub_network() -> None:
    podman("network", "rm", "--force", HUB_NETWORK, check=False)


def start_direct_city(work: Path, people: dict[str, Employee] | None = None) -> LoginCity:
    """Render, start the domain controllers and the Keycloak pod, import the employees
    realm; on any failure everything started is stopped again."""
    people = employees() if people is None else people
    checkout = copy_checkout(work / "checkout")
    ca = TestCA("Demokaupunki AD test CA")
    _prepare_catalog(checkout, ca)
    out = work / "rendered"
    (stack,) = render(out, ENV, CITY, root=checkout)
    values = TestValues()
    cleanups: list[Callable[[], None]] = []
    try:
        spec = yaml.safe_load((checkout / "inventories/dev/group_vars/demo.yml").read_text())
        hub_address = ipaddress.IPv4Address(spec["connector"]["hub_service_address"])
        hub_net = ipaddress.IPv4Network(f"{hub_address}/24", strict=False)
        podman("network", "rm", "--force", HUB_NETWORK, check=False)
        podman(
            "network", "create", "--internal", "--label", f"{TEST_LABEL}=network",
            "--subnet", str(hub_net), HUB_NETWORK,
        )  # fmt: skip
        cleanups.append(_remove_hub_network)
        ldap = spec["ldap"]
        directory: list[ADDirectory] = []
        for index, ip in enumerate((hub_address, hub_net[SECOND_DC_INDEX])):
            controller = ldap["domain_controllers"][index]
            dc = ADDirectory(
                name=f"ociam-logins-dc{index + 1}",
                network=HUB_NETWORK,
                ip=str(ip),
                tls_server_name=ldap["tls_server_name"],
                host_name=controller["host"],
                users_dn=ldap["users_dn"],
                groups_dn=ldap["groups_dn"],
                bind_dn=ldap["bind_dn"],
                bind_password=values.raw(SUBSTITUTED_SECRET, secret_env("ldapBindPassword")),
                employees=list(people.values()),
                ca=ca,
                work_dir=work / f"dc{index + 1}",
                domain=spec["city"]["domain"],
            )
            cleanups.append(dc.stop)
            dc.start()
            directory.append(dc)
        running = run_city(
            stack,
            1,
            images=ImageSet.for_stacks([stack]),
            values=values,
            work_root=work,
            index=2,
            hold_seconds=0,
        )
        cleanups.append(running.deployment.close)
        _connect(running.pod, HUB_NETWORK, str(hub_net[POD_HUB_ADDRESS_INDEX]))
        city = LoginCity(checkout, out, running, values, directory, people, cleanups=cleanups)
        city.apply_realm("employees")
        return city
    except BaseException:
        while cleanups:
            cleanups.pop()()
        raise
