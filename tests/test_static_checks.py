"""The code quality bars CI holds: ruff, mypy, yamllint and ansible-lint, all clean."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)


def _tool(name: str) -> str:
    path = BIN / name
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed; pip install -e '.[test]'")
    return found


def test_ruff_lint_is_clean() -> None:
    result = _run(_tool("ruff"), "check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    targets = [p for p in ("cli", "stacks", "bench", "tests") if (ROOT / p).exists()]
    result = _run(_tool("ruff"), "format", "--check", "--no-cache", *targets)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean() -> None:
    result = _run(_tool("mypy"), "--no-incremental")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_is_clean_for_the_real_system_tiers() -> None:
    # the test kubelet, image builders and keycloak tier decide what "passed against a
    # real system" means: typed as strictly as the product
    targets = ("tests/realsys", "tests/keycloak", "tests/cluster", "tests/security", "tests/logins",
               "tests/vm", "bench/keycloak_logins.py")  # fmt: skip
    result = _run(
        _tool("mypy"), "--no-incremental", "--strict", "--explicit-package-bases", *targets
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_yamllint_is_clean() -> None:
    targets = [
        p
        for p in ("inventories", "schemas", "playbooks", "roles", ".github")
        if (ROOT / p).exists()
    ]
    result = _run(_tool("yamllint"), "-s", *targets)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ansible_lint_production_profile_is_clean() -> None:
    targets = [p for p in ("playbooks", "roles") if (ROOT / p).exists()]
    if not targets:
        pytest.fail("no playbooks/ or roles/ to lint")
    result = _run(_tool("ansible-lint"), "--profile", "production", "--offline", *targets)
    assert result.returncode == 0, result.stdout + result.stderr
