"""Session fixtures of the ``keycloak`` tier: the rendered Keycloak pods, run for real.

Prerequisites (installed by .ci/bootstrap): root, podman with runc and
catatonit, Java, the locally built Keycloak and PostgreSQL images and the
keycloak-config-cli substitution libraries (``python -m tests.realsys.prepare``).
A missing one fails every test of the tier with the reason; nothing is skipped.

Two cities run for the whole session: ``dev/demo`` with one Keycloak pod (the
default profile) and the first ``prod`` city with the ``ha`` profile, with two
pods clustering through their shared database. Each is held for a minute
after it is ready, with the probes running, before any test uses it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from ociam.catalog import ENVIRONMENTS, load_environment
from tests.keycloak.config_cli import substitution_artifacts
from tests.keycloak.deployment import (
    HOLD_SECONDS,
    ImageSet,
    RenderedStack,
    RunningCity,
    TestValues,
    render,
    run_city,
)
from tests.realsys.images import pinned_keycloak_versions, postgresql_tag
from tests.realsys.pod_runner import exists, podman, remove_test_objects

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = PROJECT_ROOT / "tests" / "molecule" / "containers.conf"
__all__ = ["HOLD_SECONDS", "PROJECT_ROOT", "RunningCity"]
HERE = Path(__file__).resolve().parent
#: the cities this tier started, stopped as soon as the tier's last test is done
RUNNING = pytest.StashKey[list[RunningCity]]()


#: what the tier ran, for the end of the test output
SUMMARY = pytest.StashKey[list[str]]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(SUMMARY, [])
    if lines:
        terminalreporter.section("keycloak tier")
        for line in lines:
            terminalreporter.write_line(line)


def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the tier's Keycloaks once its last test ran, not at the end of the whole
    session: the Molecule scenarios that follow need the machine's memory and CPU."""
    if nextitem is not None and Path(nextitem.path).is_relative_to(HERE):
        return
    for running in item.session.stash.get(RUNNING, []):
        running.deployment.close()
    item.session.stash[RUNNING] = []


def _require_prerequisites() -> None:
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (rootful podman)")
    for tool in ("podman", "catatonit", "java"):
        if shutil.which(tool) is None:
            problems.append(f"'{tool}' is not installed (.ci/apt-packages.txt)")
    if not problems:
        for artifact in substitution_artifacts():
            if not artifact.cached.is_file():
                problems.append(f"{artifact.filename} is not cached")
        if not exists("image", postgresql_tag()):
            problems.append(f"image {postgresql_tag()} is missing")
        for version in pinned_keycloak_versions():
            found = podman(
                "images", "--quiet", "--filter", f"label=ociam.keycloak.pinned={version}"
            )
            if not found.strip():
                problems.append(f"no Keycloak image for the pinned {version}")
    if problems:
        pytest.fail(
            "the keycloak tier cannot run: " + "; ".join(problems) + ". Run .ci/bootstrap "
            "(python -m tests.realsys.prepare), or deselect with -m 'not keycloak'.",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def keycloak_tier() -> Iterator[None]:
    os.environ.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    _require_prerequisites()
    remove_test_objects()
    yield
    remove_test_objects()


@pytest.fixture(scope="session")
def work_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keycloak-tier")


@pytest.fixture(scope="session")
def test_values() -> TestValues:
    return TestValues()


@pytest.fixture(scope="session")
def rendered(keycloak_tier: None, work_root: Path) -> dict[tuple[str, str], RenderedStack]:
    """``ociam render --all`` of every environment, as a user runs it."""
    stacks = {}
    for env in ENVIRONMENTS:
        for stack in render(work_root / "rendered", env):
            stacks[(stack.env, stack.city)] = stack
    return stacks


@pytest.fixture(scope="session")
def images(rendered: dict[tuple[str, str], RenderedStack]) -> ImageSet:
    return ImageSet.for_stacks(rendered.values())


def first_ha_city() -> str:
    catalog = load_environment(PROJECT_ROOT, "prod")
    return next(slug for slug, c in sorted(catalog.cities.items()) if c.size_profile == "ha")


@pytest.fixture(scope="session")
def demo(
    request: pytest.FixtureRequest,
    rendered: dict[tuple[str, str], RenderedStack],
    images: ImageSet,
    test_values: TestValues,
    work_root: Path,
) -> Iterator[RunningCity]:
    running = run_city(
        rendered[("dev", "demo")],
        1,
        images=images,
        values=test_values,
        work_root=work_root,
        index=0,
    )
    request.session.stash.setdefault(RUNNING, []).append(running)
    request.config.stash.setdefault(SUMMARY, []).append(running.summary)
    yield running
    running.deployment.close()


@pytest.fixture(scope="session")
def ha(
    request: pytest.FixtureRequest,
    rendered: dict[tuple[str, str], RenderedStack],
    images: ImageSet,
    test_values: TestValues,
    work_root: Path,
) -> Iterator[RunningCity]:
    running = run_city(
        rendered[("prod", first_ha_city())],
        2,
        images=images,
        values=test_values,
        work_root=work_root,
        index=1,
    )
    request.session.stash.setdefault(RUNNING, []).append(running)
    request.config.stash.setdefault(SUMMARY, []).append(running.summary)
    yield running
    running.deployment.close()
