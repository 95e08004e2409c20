#!/usr/bin/env python3
"""Password logins per second per vCPU of the rendered Keycloak pod, and its memory at rest.

    .venv/bin/python bench/keycloak_logins.py [--env dev] [--city demo] [--seconds 60]
                                              [--workers 6] [--users 24] [--rest 60]

Runs the city's rendered Keycloak pod as the keycloak test tier does (the test
kubelet, under the profile's CPU and memory limits, against the PostgreSQL
stand-in), then:

- memory at rest: after ``--rest`` seconds idle once ready, the container's
  memory use (cgroup, as the kubelet and ``kubectl top`` see it) and the JVM's
  resident set, next to the profile's memory request and the sizing guide's
  1250 MB base per pod;
- logins: ``--workers`` browsers log in as ``--users`` password users of a probe
  realm (the rendered realms' password policy, so Keycloak's default hashing),
  each login driven over HTTP through the login form and finished with the
  code-to-token exchange, for ``--seconds``. Printed: logins per second, per vCPU
  of the CPU limit, and per CPU-second Keycloak actually used, next to the
  sizing guide's 15 password logins per second per vCPU.

The load generator runs on the same 2-core machine and competes for CPU: the
per-CPU-second figure is the fair one there. Needs root and .ci/bootstrap.

    .venv/bin/python bench/keycloak_logins.py --ldap [--connector-path] [--seconds 60]

LDAP-backed logins instead: the employees realm of the demo city rendered from a
scratch catalog with an AD-shaped directory (tests/logins/city.py), each login
the password step of Keycloak's form (an LDAP bind as the user, over LDAPS) up
to the second-factor page (MFA is required there; TOTP codes cannot be reused
within their 30 s, so the second factor is left out of the rate). Direct to the
domain controllers, and with ``--connector-path`` also through the connector
scenario's hub, WireGuard tunnel and HAProxy (tests/molecule/connector_e2e,
brought up and destroyed by the bench: about 12 minutes more), side by side,
both with one browser per user of the scenario's city A (three), since
concurrent logins of one user contend on its Keycloak record. Failed steps are
counted with their reasons.
"""

from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("CONTAINERS_CONF", str(ROOT / "tests" / "molecule" / "containers.conf"))

from ociam.realms.security import PASSWORD_POLICY  # noqa: E402
from tests.keycloak.browser import password_login  # noqa: E402
from tests.keycloak.deployment import ImageSet, TestValues, render, run_city  # noqa: E402
from tests.keycloak.probe_realm import create_probe_realm  # noqa: E402
from tests.logins.city import start_direct_city  # noqa: E402
from tests.logins.connector_path import FIRST_USER, Scenario, start_city  # noqa: E402
from tests.logins.flows import login  # noqa: E402
from tests.molecule.molecule_runner import (  # noqa: E402
    destroy_scenario,
    ephemeral_directory,
    run_scenario,
)
from tests.realsys.ad_directory import Employee  # noqa: E402
from tests.realsys.pod_runner import remove_test_objects  # noqa: E402
from tests.realsys.quantities import cpu_cores, memory_bytes  # noqa: E402

GUIDE_LOGINS_PER_VCPU = 15
#: the users of city A in the connector scenario (tests/molecule/connector_e2e/prepare.yml)
CONNECTOR_USERS_NAMES = (FIRST_USER["username"], "jkorhonen", "anieminen")
CONNECTOR_USERS = len(CONNECTOR_USERS_NAMES)
GUIDE_BASE_MB = 1250


def read_in(container: str, *command: str) -> str:
    """stdout of ``command`` inside the container ("" when it fails)."""
    result = subprocess.run(
        ["podman", "exec", container, *command], capture_output=True, text=True, check=False
    )
    return result.stdout if result.returncode == 0 else ""


def cpu_seconds(container: str) -> float:
    """CPU time the container used so far (cgroup v1 cpuacct, else v2 cpu.stat)."""
    usage = read_in(container, "cat", "/sys/fs/cgroup/cpuacct/cpuacct.usage").strip()
    if usage:
        return int(usage) / 1e9
    stat = read_in(container, "cat", "/sys/fs/cgroup/cpu.stat")
    fields = dict(line.split() for line in stat.splitlines() if line)
    return int(fields.get("usage_usec", "0")) / 1e6


def memory_mb(container: str) -> tuple[float, float]:
    """(cgroup memory use without inactive page cache, resident set of its processes) in MB."""
    used = int(read_in(container, "cat", "/sys/fs/cgroup/memory/memory.usage_in_bytes") or 0)
    stat = read_in(container, "cat", "/sys/fs/cgroup/memory/memory.stat")
    fields = dict(line.split(" ", 1) for line in stat.splitlines() if " " in line)
    cache = int(fields.get("total_inactive_file", "0"))
    status = read_in(container, "sh", "-c", "cat /proc/[0-9]*/status")
    rss_kb = sum(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    return (used - cache) / 1e6, rss_kb * 1024 / 1e6


def password_steps(city: Any, users: list[tuple[str, str]], seconds: float, workers: int) -> float:
    """Password steps per second that reach the second-factor page (LDAP bind passed)."""
    counts = {"ok": 0, "failed": 0}
    reasons: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def step(user: str, password: str) -> bool:
        walk = login(
            city.browser(),
            issuer=city.issuer("employees"),
            client_id="intranet",
            redirect_uri="https://dev-intra.demo.example/oauth2/callback",
            username=user,
            password=password,
        )
        page = walk.result.page if walk.result is not None else ""
        ok = walk.steps == ["password"] and "totpSecret" in page
        if not ok and walk.result is not None:
            reason = "; ".join(walk.result.errors) or f"HTTP {walk.result.status}"
            with lock:
                reasons[f"{walk.steps} {reason}"[:160]] += 1
        return ok

    for user, password in users:  # first logins import the users
        step(user, password)
    stop = time.monotonic() + seconds

    def worker(index: int) -> None:
        n = index
        while time.monotonic() < stop:
            ok = step(*users[n % len(users)])
            n += workers
            with lock:
                counts["ok" if ok else "failed"] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=worker, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    print(f"    {counts['ok']} in {elapsed:.0f} s ({counts['failed']} failed)")
    for reason, count in reasons.most_common(3):
        print(f"      failed {count}x: {reason}")
    return counts["ok"] / elapsed


def ldap_main(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="ociam-bench-ldap-"))
    people = {f"bench.user{i}": Employee(f"bench.user{i}", "Bench", f"User{i}") for i in range(24)}
    rates: dict[str, float] = {}
    workers = args.workers
    if args.connector_path:
        # one browser per user, so that no user logs in twice at once on either path
        # (concurrent logins of one user contend on its Keycloak record): the scenario's
        # city A has CONNECTOR_USERS users
        workers = min(workers, CONNECTOR_USERS)
    city = start_direct_city(work / "direct", people)
    try:
        print("keycloak_logins --ldap: direct to the domain controllers")
        users = [(u, p.password) for u, p in people.items()]
        rates["direct"] = password_steps(city, users, args.seconds, workers)
    finally:
        city.close()
    if args.connector_path:
        scenario_dir = ROOT / "tests"
        try:
            result = run_scenario(scenario_dir, "connector_e2e", destroy=False)
            if not result.ok:
                print(result.failure_report(), file=sys.stderr)
                return 1
            pki = Scenario(ephemeral_directory(scenario_dir, "connector_e2e") / "pki")
            joined = start_city(work / "connector", pki)
            try:
                print("keycloak_logins --ldap: through hub, tunnel and connector")
                password = pki.read("citya-user-password")
                users = [(user, password) for user in CONNECTOR_USERS_NAMES]
                rates["connector path"] = password_steps(joined, users, args.seconds, workers)
            finally:
                joined.deployment.close()
        finally:
            destroy_scenario(scenario_dir, "connector_e2e")
    for path, rate in rates.items():
        print(f"  {path:>15}: {rate:.1f} password steps/s with {workers} browsers")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="dev")
    parser.add_argument("--city", default="demo")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, default=6)
    parser.add_argument("--users", type=int, default=24)
    parser.add_argument("--rest", type=float, default=60, help="idle seconds before memory")
    parser.add_argument("--ldap", action="store_true", help="LDAP-backed logins (see above)")
    parser.add_argument(
        "--connector-path", action="store_true", help="with --ldap: also through the connector"
    )
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("keycloak_logins: must run as root (rootful podman)", file=sys.stderr)
        return 2
    remove_test_objects()
    if args.ldap:
        return ldap_main(args)
    work = Path(tempfile.mkdtemp(prefix="ociam-bench-keycloak-"))
    (stack,) = render(work / "rendered", args.env, args.city)
    city = run_city(
        stack,
        1,
        images=ImageSet.for_stacks([stack]),
        values=TestValues(),
        work_root=work,
        index=0,
    )
    try:
        pod = city.pod
        container = f"{pod.name}-keycloak"
        resources = pod.spec["containers"][0]["resources"]
        cpu_limit = cpu_cores(resources["limits"]["cpu"])
        memory_request_mb = memory_bytes(resources["requests"]["memory"]) / 1e6
        time.sleep(args.rest)
        at_rest, rss = memory_mb(container)

        deployment = city.deployment
        admin = deployment.bootstrap_admin()
        probe = create_probe_realm(admin, users=args.users, brute_force=False)
        admin.put(f"/{probe.realm}", {"passwordPolicy": PASSWORD_POLICY})
        users = list(probe.users.items())
        issuer = probe.issuer(deployment.public_host)
        route = probe.route(deployment.public_host)
        counts = {"ok": 0, "failed": 0}
        lock = threading.Lock()
        stop = time.monotonic() + args.seconds

        def login(user: str, password: str) -> bool:
            return password_login(
                deployment.browser(pod, [route]),
                issuer=issuer,
                client_id=probe.client_id,
                redirect_uri=probe.redirect_uri,
                username=user,
                password=password,
            ).ok

        def worker(index: int) -> None:
            n = index
            while time.monotonic() < stop:
                ok = login(*users[n % len(users)])
                n += args.workers
                with lock:
                    counts["ok" if ok else "failed"] += 1

        # one warm-up login per browser (first logins pay class loading and caches)
        for user, password in users[: args.workers]:
            login(user, password)
        cpu_before, started = cpu_seconds(container), time.monotonic()
        stop = started + args.seconds
        threads = [threading.Thread(target=worker, args=(i,)) for i in range(args.workers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        used = cpu_seconds(container) - cpu_before
        under_load, _ = memory_mb(container)
        rate = counts["ok"] / elapsed
        print(
            f"keycloak_logins: {args.env}/{args.city}, Keycloak {city.keycloak_version}, "
            f"CPU limit {cpu_limit:g}, memory request {memory_request_mb:.0f} MB"
        )
        print(
            f"  logins: {counts['ok']} in {elapsed:.0f} s with {args.workers} browsers "
            f"({counts['failed']} failed) = {rate:.1f}/s"
        )
        print(
            f"  per vCPU of the limit: {rate / cpu_limit:.1f}/s; per CPU-second used: "
            f"{counts['ok'] / used:.1f} (Keycloak used {used / elapsed:.2f} cores); "
            f"guide: {GUIDE_LOGINS_PER_VCPU}/s per vCPU"
        )
        print(
            f"  memory at rest: {at_rest:.0f} MB (cgroup, without page cache), JVM RSS "
            f"{rss:.0f} MB; under load {under_load:.0f} MB; request {memory_request_mb:.0f} MB; "
            f"guide: {GUIDE_BASE_MB} MB base per pod"
        )
    finally:
        city.deployment.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
