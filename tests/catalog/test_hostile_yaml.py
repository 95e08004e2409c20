"""Hostile YAML in a city file: refused with ``file:line: reason``, exit 2, nothing written.

The constructs a catalog never needs and an attacker or a slip could bring: expansion
bombs, deep nesting, huge values and files, tags that construct objects or binary
data, bytes that are not text, merge keys that Ansible and ociam would read
differently. How fast and how small each refusal is: bench/hostile_yaml.py (time and
memory are measured there, never asserted here). The subprocess timeout below is a
guard that turns a hang into a failure, far above any target.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.catalog.hostile_cases import CASES, CITY, Hostile, write_case
from tests.support import snapshot

HANG_GUARD_SECONDS = 60


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_hostile_yaml_is_refused_with_the_line(case: Hostile, project_copy: Path) -> None:
    start = write_case(project_copy, case)
    before = snapshot(project_copy)
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ociam"), "validate", "--env", "dev"],
        cwd=project_copy,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    location = str(CITY.relative_to("inventories"))
    if case.line is not None:
        line = case.line if isinstance(case.content, bytes) else start + case.line
        location = f"{location}:{line}"
    matching = [
        entry
        for entry in result.stderr.splitlines()
        if entry.startswith(f"inventories/{location}: ")
    ]
    assert matching, f"no line for {location} in:\n{result.stderr}"
    assert any(case.reason in entry for entry in matching), matching
    assert snapshot(project_copy) == before
    assert not Path("/tmp/ociam-pwned").exists()
