"""Helpers of the connector_e2e verifier: the test catalog, podman exec, LDAPS probes.

Everything the checks need to know about addresses and names is read from
the scenario's catalog (inventory/group_vars), the same files the playbooks
read; passwords from the files prepare.yml made in the ephemeral directory.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SCENARIO = Path(__file__).resolve().parents[1]
EPHEMERAL = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent"))

HUB = "ociam-e2e-hub"
CONNECTORS = {"citya": "ociam-e2e-connector-a", "cityb": "ociam-e2e-connector-b"}
# client: a source of citya (cluster.egress_cidrs); client2: of cityb only
CLIENTS = {"citya": "ociam-e2e-client", "cityb": "ociam-e2e-client2"}
DCS = {"citya": ["ociam-e2e-dc1", "ociam-e2e-dc2"], "cityb": ["ociam-e2e-dcb1"]}
# the connectors' and DCs' addresses on their LANs (molecule.yml)
LAN_ADDRESS = {"ociam-e2e-connector-a": "10.231.31.11", "ociam-e2e-connector-b": "10.231.32.12"}
HUB_CLUSTER_ADDRESS = "10.231.10.2"

# users prepare.yml seeds (templates/seed.ldif.j2)
FIRST_USER = {"citya": "mvirtanen", "cityb": "elindqvist"}


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((SCENARIO / "inventory" / "group_vars" / f"{name}.yml").read_text())
    assert isinstance(data, dict)
    return data


ENV = _load("all")
CITIES = {slug: _load(slug) for slug in CONNECTORS}


@dataclass(frozen=True)
class City:
    slug: str

    @property
    def spec(self) -> dict[str, Any]:
        return CITIES[self.slug]

    @property
    def tls_name(self) -> str:
        return str(self.spec["ldap"]["tls_server_name"])

    @property
    def url(self) -> str:
        # what CityConfig.ldap_url gives Keycloak
        return f"ldaps://{self.tls_name}:636"

    @property
    def service_address(self) -> str:
        return str(self.spec["connector"]["hub_service_address"])

    @property
    def tunnel_address(self) -> str:
        return str(self.spec["connector"]["tunnel_address"])

    @property
    def bind_dn(self) -> str:
        return str(self.spec["ldap"]["bind_dn"])

    @property
    def users_dn(self) -> str:
        return str(self.spec["ldap"]["users_dn"])

    @property
    def password_file(self) -> str:
        """Where the bind password sits inside the clients (written by ensure_password)."""
        return f"/root/.e2e-{self.slug}-bind-password"


def run(*argv: str, timeout: float = 120, check: bool = False) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        list(argv), capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{shlex.join(argv)} exited {result.returncode}\n{result.stdout}\n{result.stderr}"
        )
    return result


def sh(container: str, script: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run a bash script inside a container."""
    return run("podman", "exec", container, "bash", "-c", script, timeout=timeout)


def ensure_password(client: str, city: City) -> None:
    password = (EPHEMERAL / "pki" / f"{city.slug}-bind-password").read_text().strip()
    subprocess.run(
        ["podman", "exec", "-i", client, "bash", "-c", f"umask 077; cat > {city.password_file}"],
        input=password,
        text=True,
        check=True,
        capture_output=True,
    )


def ldapsearch_script(
    city: City,
    *,
    url: str | None = None,
    base: str | None = None,
    filter_: str | None = None,
    timeout: int = 10,
) -> str:
    """An ldapsearch over LDAPS, bound as the city's service account; the client's
    ldap.conf demands a certificate verified against the test CA."""
    return shlex.join(
        [
            "ldapsearch",
            "-LLL",
            "-x",
            "-H",
            url or city.url,
            "-D",
            city.bind_dn,
            "-y",
            city.password_file,
            "-o",
            f"nettimeout={timeout}",
            "-l",
            str(timeout),
            "-b",
            base or city.users_dn,
            filter_ or f"(uid={FIRST_USER[city.slug]})",
            "mail",
            "memberOf",
        ]
    )


def ldapsearch(client: str, city: City, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return sh(client, ldapsearch_script(city, **kwargs), timeout=60)


def tcp_connects(container: str, address: str, port: int, seconds: int = 3) -> bool:
    """True when a TCP connection from the container to address:port is accepted."""
    result = sh(
        container, f"timeout {seconds} bash -c '</dev/tcp/{address}/{port}'", timeout=seconds + 30
    )
    return result.returncode == 0


def tls_peer(client: str, address: str, server_name: str) -> dict[str, Any]:
    """TLS handshake from the client to address:636 with certificate and name
    verification against the test CA; the peer certificate's names or the error."""
    code = f"""
import json, socket, ssl
ctx = ssl.create_default_context(cafile="/etc/ldap/ociam-e2e-ca.pem")
try:
    with socket.create_connection(("{address}", 636), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="{server_name}") as tls:
            cert = tls.getpeercert()
            print(json.dumps({{"ok": True, "san": [v for k, v in cert["subjectAltName"]]}}))
except (ssl.SSLError, OSError) as exc:
    print(json.dumps({{"ok": False, "error": type(exc).__name__ + ": " + str(exc)}}))
"""
    result = run("podman", "exec", client, "python3", "-c", code, timeout=60, check=True)
    return dict(json.loads(result.stdout))


def haproxy_servers(connector: str) -> dict[str, str]:
    """Server name -> status (UP, DOWN, ...) from the connector's local stats page."""
    code = (
        "import urllib.request;"
        "print(urllib.request.urlopen('http://127.0.0.1:8404/stats;csv', timeout=5)"
        ".read().decode())"
    )
    result = run("podman", "exec", connector, "python3", "-c", code, timeout=60, check=True)
    rows = [line.split(",") for line in result.stdout.splitlines() if line and line[0] != "#"]
    return {
        row[1]: row[17]
        for row in rows
        if row[0] == "domain_controllers" and row[1] not in ("BACKEND", "FRONTEND")
    }


def wait_for(predicate: Any, seconds: float, interval: float = 0.5) -> float | None:
    """Seconds until predicate() is true, or None after the deadline."""
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        if predicate():
            return time.monotonic() - start
        time.sleep(interval)
    return None


def record(name: str, value: Any) -> None:
    """Keep a measured figure: printed, and added to e2e-measurements.json in
    $OCIAM_MOLECULE_REPORT_DIR (set by tests/molecule/molecule_runner.py)."""
    print(f"E2E-MEASURE {name} = {value}")
    target = os.environ.get("OCIAM_MOLECULE_REPORT_DIR")
    if target:
        path = Path(target) / "e2e-measurements.json"
        data = json.loads(path.read_text()) if path.exists() else {}
        data[name] = value
        path.write_text(json.dumps(data, indent=2, sort_keys=True))
