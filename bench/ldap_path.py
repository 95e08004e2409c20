#!/usr/bin/env python3
"""LDAPS throughput through the whole connector path versus straight to a DC.

    .venv/bin/python bench/ldap_path.py [--seconds 10] [--workers 4] [--rounds 3]
                                        [--reuse] [--keep]

Brings up the connector_e2e Molecule scenario (create, prepare, converge;
--reuse skips that when it is already up), then, from the Keycloak stand-in
(ociam-e2e-client), measures LDAPS bind+search round trips per second with
bench/ldap_probe.py in two modes:
  connect  a new TLS connection per operation (Keycloak checking a password),
  session  bind+search repeated on an open connection (a pooled connection),
against two targets in alternating rounds:
  path     ldaps://ad.citya.test -> hub service address -> DNAT -> WireGuard
           (wireguard-go on both ends) -> connector HAProxy -> dc1,
  direct   dc1 itself (the client is attached to city A's LAN for the run).
The connector's second DC is put in maintenance meanwhile, so both targets
end at the same slapd. Prints the median of each, and path/direct (target: at
least 0.70). Destroys the scenario at the end unless --keep.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
TESTS = ROOT / "tests"
SCENARIO = TESTS / "molecule" / "connector_e2e"
CLIENT, CONNECTOR = "ociam-e2e-client", "ociam-e2e-connector-a"
LAN, CLIENT_LAN_ADDRESS = "ociam-e2e-lan-a", "10.231.31.50"
TARGET_RATIO = 0.70


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["CONTAINERS_CONF"] = str(TESTS / "molecule" / "containers.conf")
    env["ANSIBLE_NOCOLOR"] = "1"
    return env


def sh(*argv: str, check: bool = True, stdin: str | None = None) -> str:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        sys.exit(f"ldap_path: {' '.join(argv)} failed:\n{result.stdout[-3000:]}{result.stderr}")
    return result.stdout


def molecule(action: str) -> float:
    start = time.monotonic()
    result = subprocess.run(
        [str(Path(sys.executable).parent / "molecule"), action, "-s", "connector_e2e"],
        cwd=TESTS,
        env=environment(),
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.exit(f"ldap_path: molecule {action} failed:\n{result.stdout[-4000:]}")
    return time.monotonic() - start


def bind_password() -> str:
    candidates = sorted(
        Path.home().glob(".ansible/tmp/molecule.*.connector_e2e/pki/citya-bind-password"),
        key=lambda p: p.stat().st_mtime,
    )
    if not candidates:
        sys.exit("ldap_path: no scenario password found; run without --reuse")
    return candidates[-1].read_text().strip()


def haproxy_admin(command: str) -> None:
    code = (
        "import socket,sys;s=socket.socket(socket.AF_UNIX);"
        "s.connect('/run/haproxy/admin.sock');"
        f"s.sendall(b'{command}\\n');print(s.recv(4096).decode())"
    )
    sh("podman", "exec", CONNECTOR, "python3", "-c", code)


def probe(address: str, city: dict, mode: str, seconds: float, workers: int) -> dict:
    ldap = city["ldap"]
    out = sh(
        "podman", "exec", CLIENT, "python3", "/root/ldap_probe.py",
        "--address", address, "--server-name", ldap["tls_server_name"],
        "--cafile", "/etc/ldap/ociam-e2e-ca.pem", "--bind-dn", ldap["bind_dn"],
        "--password-file", "/root/.bench-bind-password", "--base", ldap["users_dn"],
        "--uid", "mvirtanen", "--mode", mode, "--seconds", str(seconds),
        "--workers", str(workers),
    )  # fmt: skip
    return dict(json.loads(out))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="per measurement")
    parser.add_argument("--workers", type=int, default=4, help="concurrent clients")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per target")
    parser.add_argument("--reuse", action="store_true", help="scenario is already converged")
    parser.add_argument("--keep", action="store_true", help="do not destroy afterwards")
    args = parser.parse_args()

    city = yaml.safe_load((SCENARIO / "inventory" / "group_vars" / "citya.yml").read_text())
    dc1 = city["ldap"]["domain_controllers"][0]
    dc2 = city["ldap"]["domain_controllers"][1]
    targets = {"path": city["connector"]["hub_service_address"], "direct": dc1["address"]}

    if not args.reuse:
        molecule("destroy")
        print(f"scenario up in {molecule('create') + molecule('converge'):.0f} s", flush=True)
    sh("podman", "cp", str(ROOT / "bench" / "ldap_probe.py"), f"{CLIENT}:/root/ldap_probe.py")
    sh("podman", "exec", "-i", CLIENT, "sh", "-c", "umask 077; cat > /root/.bench-bind-password",
       stdin=bind_password())  # fmt: skip
    sh("podman", "network", "connect", "--ip", CLIENT_LAN_ADDRESS, LAN, CLIENT)
    haproxy_admin(f"set server domain_controllers/{dc2['host']} state maint")
    results: dict[tuple[str, str], list[dict]] = {}
    try:
        for mode in ("connect", "session"):
            for _ in range(args.rounds):
                for target, address in targets.items():
                    result = probe(address, city, mode, args.seconds, args.workers)
                    results.setdefault((mode, target), []).append(result)
                    print(f"  {mode:7} {target:6} {json.dumps(result)}", flush=True)
    finally:
        haproxy_admin(f"set server domain_controllers/{dc2['host']} state ready")
        sh("podman", "network", "disconnect", LAN, CLIENT, check=False)
        if not args.keep:
            molecule("destroy")

    print(f"\nLDAPS bind+search per second, {args.workers} clients, median of {args.rounds}:")
    for mode in ("connect", "session"):
        direct = statistics.median(r["ops_per_s"] for r in results[(mode, "direct")])
        path = statistics.median(r["ops_per_s"] for r in results[(mode, "path")])
        errors = sum(r["errors"] for k in ("direct", "path") for r in results[(mode, k)])
        ratio = path / direct if direct else 0.0
        verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
        print(
            f"  {mode:7}  direct {direct:8.1f}/s   path {path:8.1f}/s   "
            f"ratio {ratio:.2f} (target {TARGET_RATIO:.2f} {verdict})   errors {errors}"
        )


if __name__ == "__main__":
    main()
