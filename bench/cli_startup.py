"""How fast does `ociam --help` answer? Prints wall-clock figures over repeated runs.

Target (issue 2): well under a second. Measured here, not asserted in tests.

    .venv/bin/python bench/cli_startup.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def time_command(command: list[str], runs: int) -> list[float]:
    timings = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, check=True, capture_output=True)
        timings.append(time.perf_counter() - start)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    ociam = str(VENV_BIN / "ociam")
    cases = {
        "python -c pass (interpreter floor)": [sys.executable, "-c", "pass"],
        "ociam --help": [ociam, "--help"],
        "ociam validate --help": [ociam, "validate", "--help"],
        "ociam cities --env prod (loads the catalog)": [ociam, "cities", "--env", "prod"],
        "ociam validate --all-envs": [ociam, "validate", "--all-envs"],
    }
    print(f"{'command':48} {'median':>9} {'p90':>9} {'min':>9}   runs={args.runs}")
    for name, command in cases.items():
        timings = sorted(time_command(command, args.runs))
        p90 = timings[int(0.9 * (len(timings) - 1))]
        print(
            f"{name:48} {statistics.median(timings) * 1000:7.0f}ms {p90 * 1000:7.0f}ms "
            f"{timings[0] * 1000:7.0f}ms"
        )


if __name__ == "__main__":
    main()
