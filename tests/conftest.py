"""Shared fixtures: the checkout, a disposable copy of it, and a CLI runner."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.support import Cli

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = PROJECT_ROOT.parent / "shared"


def shared_path(env_var: str, default: Path) -> Path:
    """A directory from ../shared, as .ci/run points at it; a clear failure when missing."""
    path = Path(os.environ.get(env_var, default))
    if not path.is_dir():
        pytest.fail(
            f"{env_var}={path} does not exist; set {env_var} (.ci/run does) "
            f"or place the shared data next to the checkout"
        )
    return path


@pytest.fixture(scope="session")
def project_root() -> Path:
    return PROJECT_ROOT


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """A throwaway checkout (catalog and project marker) that tests may break."""
    root = tmp_path / "checkout"
    root.mkdir()
    shutil.copytree(PROJECT_ROOT / "inventories", root / "inventories")
    shutil.copy2(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


@pytest.fixture
def cli(project_root: Path) -> Cli:
    return Cli(project_root)


@pytest.fixture
def copy_cli(project_copy: Path) -> Cli:
    return Cli(project_copy)
