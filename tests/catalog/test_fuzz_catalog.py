"""Property: any mutation of a real seed file ends in a valid catalog or exit 2 with
``file:line: reason``; never a traceback, never exit 1.

A fixed budget of derandomized examples runs here; bench/fuzz_catalog.py runs many
more and measures each (the 2-second bound is measured there). Every case that ever
failed is kept in fuzz_regressions/ and replayed below. The hypothesis deadline is a
hang guard, far above that bound, not the bound itself.
"""

from __future__ import annotations

import datetime
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from tests.catalog.catalog_mutations import Mutation, check_validate_output, mutations
from tests.support import Cli

ROOT = Path(__file__).resolve().parents[2]
REGRESSIONS = Path(__file__).resolve().parent / "fuzz_regressions"
CI_EXAMPLES = 120


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("fuzz") / "checkout"
    shutil.copytree(ROOT / "inventories", root / "inventories")
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    yield root


def run(checkout: Path, mutation: Mutation) -> list[str]:
    path = checkout / "inventories" / mutation.target
    original = (ROOT / "inventories" / mutation.target).read_bytes()
    mutation.apply(checkout)
    try:
        result = Cli(checkout)("validate", "--env", mutation.env)
    finally:
        path.write_bytes(original)
    return check_validate_output(result.exit_code, result.stdout, result.stderr)


@settings(
    max_examples=CI_EXAMPLES,
    derandomize=True,
    deadline=datetime.timedelta(seconds=30),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(mutation=mutations())
def test_mutated_seed_files_are_valid_or_refused_with_a_location(
    checkout: Path, mutation: Mutation
) -> None:
    problems = run(checkout, mutation)
    assert not problems, f"{mutation.target}, {mutation.description}: {problems}"


def test_cases_that_once_failed_stay_fixed(checkout: Path) -> None:
    cases = sorted(REGRESSIONS.glob("*.json"))
    assert cases, f"the regression corpus {REGRESSIONS} is empty"
    for case in cases:
        saved = json.loads(case.read_text(encoding="utf-8"))
        content = saved["content"].encode("latin-1")
        mutation = Mutation(saved["target"], content, saved["description"])
        assert not run(checkout, mutation), case.name
