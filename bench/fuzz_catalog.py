#!/usr/bin/env python3
"""Fuzz the catalog loader and `ociam validate` with a large budget, timing each example.

    .venv/bin/python bench/fuzz_catalog.py [--examples 2000] [--seed N]

The property of tests/catalog/test_fuzz_catalog.py (a valid catalog or exit 2 with
`file:line: reason`; never a traceback, never exit 1), with random examples instead
of the CI's fixed ones. Prints how many examples ran, the slowest ones against the
2-second bound, and saves every failing example to tests/catalog/fuzz_regressions/
(commit it: the test suite then replays it forever).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402

from tests.catalog.catalog_mutations import Mutation, check_validate_output, mutations  # noqa: E402
from tests.support import Cli  # noqa: E402

REGRESSIONS = ROOT / "tests" / "catalog" / "fuzz_regressions"
BOUND_SECONDS = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=None)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="ociam-fuzz-"))
    root = work / "checkout"
    shutil.copytree(ROOT / "inventories", root / "inventories")
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    timings: list[tuple[float, str]] = []
    failures: list[tuple[Mutation, list[str]]] = []

    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutation=mutations())
    def explore(mutation: Mutation) -> None:
        path = root / "inventories" / mutation.target
        original = (ROOT / "inventories" / mutation.target).read_bytes()
        mutation.apply(root)
        started = time.perf_counter()
        try:
            result = Cli(root)("validate", "--env", mutation.env)
        finally:
            path.write_bytes(original)
        timings.append((time.perf_counter() - started, mutation.description))
        problems = check_validate_output(result.exit_code, result.stdout, result.stderr)
        if problems:
            failures.append((mutation, problems))

    runner = seed(args.seed)(explore) if args.seed is not None else explore
    runner()
    timings.sort(reverse=True)
    print(f"fuzz_catalog: {len(timings)} examples, {len(failures)} failing")
    for seconds, description in timings[:5]:
        print(f"  {seconds:.2f} s  {description}")
    slow = [t for t in timings if t[0] > BOUND_SECONDS]
    print(f"  over {BOUND_SECONDS:.0f} s: {len(slow)}")
    for mutation, problems in failures:
        digest = hashlib.sha256(mutation.content).hexdigest()[:12]
        target = REGRESSIONS / f"{mutation.target.replace('/', '-')}-{digest}.json"
        record = {
            "target": mutation.target,
            "description": f"{mutation.description}: {'; '.join(problems)}",
            "content": mutation.content.decode("latin-1"),
        }
        target.write_text(json.dumps(record, indent=1, ensure_ascii=True) + "\n", encoding="utf-8")
        print(f"  saved {target.relative_to(ROOT)}: {problems}")
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
