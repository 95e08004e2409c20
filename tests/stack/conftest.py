"""Fixtures of the city stack tests: every seed city rendered once per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ociam.catalog import load_environment
from ociam.engines.offline import OfflineEngine
from ociam.render.service import RenderedCity, Validators, render_city
from tests.stack.stack_support import PROJECT_ROOT, all_stacks


@pytest.fixture(scope="session")
def crd_dir() -> Path:
    path = Path(os.environ.get("OCIAM_CRD_DIR", PROJECT_ROOT.parent / "shared" / "crds"))
    if not path.is_dir():
        pytest.fail(f"OCIAM_CRD_DIR={path} does not exist; .ci/run sets it to ../shared/crds")
    return path


@pytest.fixture(scope="session")
def seed_renders() -> dict[tuple[str, str], RenderedCity]:
    """Every city of every environment of the seed catalog, rendered offline."""
    engine = OfflineEngine(PROJECT_ROOT)
    return {
        (env, slug): render_city(engine, load_environment(PROJECT_ROOT, env).city(slug))
        for env, slug in all_stacks()
    }


@pytest.fixture(scope="session")
def validators(crd_dir: Path) -> Validators:
    return Validators(crd_dir)


@pytest.fixture(scope="session")
def demo(seed_renders: dict[tuple[str, str], RenderedCity]) -> RenderedCity:
    return seed_renders[("dev", "demo")]
