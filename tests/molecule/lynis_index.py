#!/usr/bin/env python3
"""Lynis hardening index of this host, with and without the host kernel's sysctls.

    python3 lynis_index.py [/var/log/lynis.log [/var/log/lynis-report.dat]]

Prints JSON: the index Lynis reports, and the same index without test
KRNL-6000, which compares the *running* kernel parameters with its profile.
In a container those are the host's (/proc/sys is the host kernel's and
read-only), so KRNL-6000 scores the machine the test runs on, not the role;
the role's sysctl file is checked by the verifier instead. Without it the
index no longer depends on which machine runs CI.

Reads the points Lynis logs per test ("Currently having N points (out of
M)") and checks that they reproduce the index in its report, so a change in
Lynis' log format fails loudly instead of yielding a wrong number.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HOST_KERNEL_TESTS = ("KRNL-6000",)
TEST = re.compile(r"Performing test ID (\S+)")
POINTS = re.compile(r"Currently having (\d+) points \(out of (\d+)\)")


def main(
    log_path: str = "/var/log/lynis.log", report_path: str = "/var/log/lynis-report.dat"
) -> int:
    earned: dict[str, int] = {}
    possible: dict[str, int] = {}
    test, points, total = "", 0, 0
    with Path(log_path).open(encoding="utf-8", errors="replace") as log:
        for line in log:
            if match := TEST.search(line):
                test = match.group(1)
            elif match := POINTS.search(line):
                now, now_total = int(match.group(1)), int(match.group(2))
                earned[test] = earned.get(test, 0) + now - points
                possible[test] = possible.get(test, 0) + now_total - total
                points, total = now, now_total
    with Path(report_path).open(encoding="utf-8", errors="replace") as report:
        fields = dict(line.rstrip("\n").split("=", 1) for line in report if "=" in line)
    reported = int(fields["hardening_index"])
    if total == 0 or points * 100 // total != reported:
        print(f"lynis_index: log gives {points}/{total}, report says {reported}", file=sys.stderr)
        return 1
    kept = points - sum(earned.get(t, 0) for t in HOST_KERNEL_TESTS)
    kept_total = total - sum(possible.get(t, 0) for t in HOST_KERNEL_TESTS)
    result = {
        "hardening_index": reported,
        "points": f"{points}/{total}",
        "index_without_host_kernel": kept * 100 // kept_total,
        "points_without_host_kernel": f"{kept}/{kept_total}",
        "excluded_tests": list(HOST_KERNEL_TESTS),
        "tests": int(fields.get("lynis_tests_done", 0)),
        "lynis_version": fields.get("lynis_version", "?"),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
