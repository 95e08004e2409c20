"""Fixtures of the security tier: the seed catalog rendered once per session (every
city of every environment and each environment's platform stack) and the analyzer's
connectivity per environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from ociam.catalog import ENVIRONMENTS, EnvironmentCatalog, load_environment
from ociam.engines.offline import OfflineEngine
from ociam.render.platform import RenderedPlatform, render_platform
from ociam.render.service import RenderedCity, render_city
from ociam.render.validation import CRD_DIR_ENV
from tests.conftest import SHARED_DIR, shared_path
from tests.realsys.rootfs import BuildError
from tests.security.matrix import Analysis, analyze
from tests.security.seed import PROJECT_ROOT


@pytest.fixture(scope="session")
def crd_dir() -> Path:
    return shared_path(CRD_DIR_ENV, SHARED_DIR / "crds")


@pytest.fixture(scope="session")
def catalogs() -> dict[str, EnvironmentCatalog]:
    return {env: load_environment(PROJECT_ROOT, env) for env in ENVIRONMENTS}


@pytest.fixture(scope="session")
def city_renders(catalogs: dict[str, EnvironmentCatalog]) -> dict[tuple[str, str], RenderedCity]:
    """Every city of every environment of the seed catalog, rendered offline once."""
    engine = OfflineEngine(PROJECT_ROOT)
    return {
        (env, slug): render_city(engine, catalog.city(slug))
        for env, catalog in catalogs.items()
        for slug in sorted(catalog.cities)
    }


@pytest.fixture(scope="session")
def platform_renders() -> dict[str, RenderedPlatform]:
    engine = OfflineEngine(PROJECT_ROOT)
    return {env: render_platform(engine, PROJECT_ROOT, env) for env in ENVIRONMENTS}


@pytest.fixture(scope="session")
def analyses(
    catalogs: dict[str, EnvironmentCatalog],
    city_renders: dict[tuple[str, str], RenderedCity],
) -> dict[str, Analysis]:
    """netpol-analyzer's connections over each environment (all its cities at once)."""
    found = {}
    for env, catalog in catalogs.items():
        renders = {slug: r.objects for (e, slug), r in city_renders.items() if e == env}
        try:
            found[env] = analyze(catalog, renders)
        except BuildError as error:
            pytest.fail(str(error))
    return found
