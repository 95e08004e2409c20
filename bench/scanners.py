"""What the misconfiguration scanners find in the renders, counted per scanner and severity.

    .venv/bin/python bench/scanners.py [--env ENV ...]

Renders every city of the chosen environments (default: all) and their platform
stacks offline, runs checkov and trivy once each over the objects
(tests/realsys/scanners.py), and prints, per scanner: the version, the wall time, the
objects it evaluated (ran at least one check on), and the findings per severity, all
of them and those tests/security/waivers.yaml does not waive (which the tests fail
on). The scanners must be installed first: `.venv/bin/python -m tests.realsys.toolchain
trivy` and `.venv/bin/python -m tests.realsys.checkov_venv`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ociam.catalog import ENVIRONMENTS, load_environment  # noqa: E402
from ociam.engines.offline import OfflineEngine  # noqa: E402
from ociam.render.platform import render_platform  # noqa: E402
from ociam.render.service import render_city  # noqa: E402
from tests.realsys.scanners import (  # noqa: E402
    Scan,
    checkov_version,
    scan_checkov,
    scan_trivy,
    split_objects,
    trivy_version,
)
from tests.security.waivers import load_waivers, unwaived  # noqa: E402

SCANNERS: dict[str, tuple[Callable[[Path], Scan], Callable[[], str]]] = {
    "checkov": (scan_checkov, checkov_version),
    "trivy": (scan_trivy, trivy_version),
}
SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW", "UNRATED")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/scanners.py")
    parser.add_argument("--env", action="append", choices=ENVIRONMENTS)
    args = parser.parse_args(argv)
    envs = args.env or list(ENVIRONMENTS)
    engine = OfflineEngine(ROOT)
    stacks = {}
    for env in envs:
        catalog = load_environment(ROOT, env)
        for slug in sorted(catalog.cities):
            stacks[f"{env}-{slug}"] = render_city(engine, catalog.city(slug)).objects
        stacks[f"platform-{env}"] = render_platform(engine, ROOT, env).objects
    objects = sum(len(o) for o in stacks.values())
    print(f"{len(stacks)} stacks ({', '.join(envs)}), {objects} objects")
    waivers = load_waivers()
    header = f"{'scanner':8} {'version':9} {'seconds':>7}  {'':10}" + "".join(
        f"{s:>9}" for s in SEVERITIES
    )
    print(header)
    with tempfile.TemporaryDirectory(prefix="ociam-bench-scan-") as scratch:
        root = split_objects(stacks, Path(scratch))
        for name, (scan, version) in SCANNERS.items():
            start = time.monotonic()
            result = scan(root)
            seconds = time.monotonic() - start
            found = result.findings
            new = unwaived(found, waivers)
            for label, items in (("findings", found), ("unwaived", new)):
                counts = Counter(f.severity for f in items)
                prefix = f"{name:8} {version():9} {seconds:7.1f}" if label == "findings" else ""
                print(f"{prefix:26}  {label:10}" + "".join(f"{counts[s]:>9}" for s in SEVERITIES))
            platform = sum(1 for stack, _ in result.evaluated if stack.startswith("platform-"))
            print(
                f"{'':26}  evaluated: {len(result.evaluated)} of {objects} objects"
                f" ({platform} in the platform stacks)"
            )
            checks = Counter(f.check for f in found)
            print(f"{'':26}  checks: " + ", ".join(f"{c} {n}" for c, n in sorted(checks.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
