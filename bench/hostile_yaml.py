#!/usr/bin/env python3
"""Time and peak memory of `ociam validate` refusing each hostile city file.

    .venv/bin/python bench/hostile_yaml.py [--repeat 3]

Each case of tests/catalog/hostile_cases.py is written into a throwaway copy of
the catalog and `ociam validate --env dev` runs in a fresh process; printed per
case: exit code, the median wall time and the peak resident memory of the
process, against the targets (under 1 s and under 200 MB). The baseline is the
unmodified catalog.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.catalog.hostile_cases import CASES, Hostile, write_case  # noqa: E402

OCIAM = Path(sys.executable).parent / "ociam"
TARGET_SECONDS, TARGET_MB = 1.0, 200


def run_once(root: Path) -> tuple[int, float, float, float]:
    """(exit code, wall seconds, peak RSS in MB, CPU seconds) of one validate in its own
    process; CPU time (user + system) hardly depends on the machine's load, wall time does."""
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.chdir(root)
        fd = os.open(os.devnull, os.O_WRONLY)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.execv(str(OCIAM), [str(OCIAM), "validate", "--env", "dev"])
    _, status, usage = os.wait4(pid, 0)
    return (
        os.waitstatus_to_exitcode(status),
        time.perf_counter() - started,
        usage.ru_maxrss / 1024,
        usage.ru_utime + usage.ru_stime,
    )


def copy_catalog(into: Path) -> Path:
    root = into / "checkout"
    shutil.copytree(ROOT / "inventories", root / "inventories")
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cases: list[Hostile | None] = [None, *CASES]
    worst = 0.0, 0.0, 0.0
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print(f"{'case':<20} {'exit':>4} {'seconds':>8} {'CPU s':>6} {'peak MB':>8}")
    for case in cases:
        with tempfile.TemporaryDirectory() as directory:
            root = copy_catalog(Path(directory))
            if case is not None:
                write_case(root, case)
            runs = [run_once(root) for _ in range(args.repeat)]
        code = runs[0][0]
        seconds = statistics.median(r[1] for r in runs)
        peak = max(r[2] for r in runs)
        cpu = statistics.median(r[3] for r in runs)
        name = case.id if case else "(seed catalog)"
        print(f"{name:<20} {code:>4} {seconds:>8.2f} {cpu:>6.2f} {peak:>8.0f}")
        if case is not None:
            worst = max(worst[0], seconds), max(worst[1], peak), max(worst[2], cpu)
    verdict = "met" if worst[0] < TARGET_SECONDS and worst[1] < TARGET_MB else "MISSED"
    print(
        f"worst refusal: {worst[0]:.2f} s ({worst[2]:.2f} s CPU), {worst[1]:.0f} MB "
        f"(targets: under {TARGET_SECONDS:.0f} s and {TARGET_MB} MB): {verdict}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
