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

import ipaddress
import os
import shutil
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ociam.catalog import ENVIRONMENTS, load_environment
from tests.keycloak.config_cli import substitution_artifacts
from tests.keycloak.deployment import (
    CityDeployment,
    ImageSet,
    RenderedStack,
    TestValues,
    keycloak_version,
    render,
)
from tests.realsys.images import pinned_keycloak_versions, postgresql_tag
from tests.realsys.pod_runner import TEST_LABEL, Pod, exists, podman

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CONTAINERS_CONF = PROJECT_ROOT / "tests" / "molecule" / "containers.conf"
#: how long a city is watched with its probes running before tests use it
HOLD_SECONDS = 60
READY_TIMEOUT = 900


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


def _clean_leftovers() -> None:
    """Pods, containers and networks an interrupted earlier run left behind."""
    label = f"label={TEST_LABEL}"
    pods = podman("pod", "ps", "--quiet", "--filter", f"{label}=pod", check=False).split()
    if pods:
        podman("pod", "rm", "--force", "--time", "0", *pods, check=False)
    for kind in ("postgresql", "container"):
        ids = podman("ps", "--all", "--quiet", "--filter", f"{label}={kind}", check=False).split()
        if ids:
            podman("rm", "--force", "--time", "0", *ids, check=False)
    networks = podman("network", "ls", "--quiet", "--filter", f"{label}=network", check=False)
    for network in networks.split():
        podman("network", "rm", "--force", network, check=False)


@pytest.fixture(scope="session")
def keycloak_tier() -> Iterator[None]:
    os.environ.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    _require_prerequisites()
    _clean_leftovers()
    yield
    _clean_leftovers()


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


@dataclass
class RunningCity:
    """A city's Keycloak pods, ready and watched for :data:`HOLD_SECONDS`."""

    deployment: CityDeployment
    pods: list[Pod]
    seconds_to_ready: dict[str, float]
    watched_from: float
    watched_until: float
    keycloak_version: str
    logs: dict[str, str] = field(default_factory=dict)

    @property
    def pod(self) -> Pod:
        return self.pods[0]


def subnet_for(stack: RenderedStack, index: int) -> ipaddress.IPv4Network:
    """A /24 of the environment's pod network (from its end), for one city's pods."""
    env = load_environment(PROJECT_ROOT, stack.env)  # type: ignore[arg-type]
    settings = env.city(stack.city).settings
    pod_network = ipaddress.IPv4Network(str(settings.cluster.pod_cidrs[0]))
    subnet = list(pod_network.subnets(new_prefix=24))[-2 - index]
    gateway = next(subnet.hosts())
    trusted = [ipaddress.IPv4Network(str(c)) for c in settings.gateway.source_cidrs]
    if not any(gateway in c for c in trusted):
        raise AssertionError(
            f"{stack.env}/{stack.city}: the test's address {gateway} (the pod network's "
            f"gateway) is not in gateway.source_cidrs {trusted}; the forwarded headers "
            "would not be trusted"
        )
    return subnet


def run_city(
    stack: RenderedStack,
    replicas: int,
    *,
    images: ImageSet,
    values: TestValues,
    work_root: Path,
    index: int,
) -> RunningCity:
    deployment = CityDeployment(
        stack,
        images=images,
        postgresql_image=postgresql_tag(),
        work_dir=work_root / f"{stack.env}-{stack.city}",
        subnet=subnet_for(stack, index),
        values=values,
    )
    deployment.start_database()
    pods = [deployment.keycloak_pod(i) for i in range(replicas)]
    started = time.monotonic()

    def bring_up(pod: Pod) -> float:
        pod.start()
        pod.wait_ready(READY_TIMEOUT)
        return time.monotonic() - started

    # podManagementPolicy Parallel: all pods start at once
    with ThreadPoolExecutor(max_workers=replicas) as pool:
        ready = dict(zip((p.name for p in pods), pool.map(bring_up, pods), strict=True))
    watched_from = time.time()
    deadline = time.monotonic() + HOLD_SECONDS
    while time.monotonic() < deadline:
        failures = [f for p in pods for f in p.failures]
        if failures:
            break
        time.sleep(1)
    image = images.mapping[pods[0].spec["containers"][0]["image"]]
    running = RunningCity(
        deployment, pods, ready, watched_from, time.time(), keycloak_version(image)
    )
    running.logs = {p.name: p.logs("keycloak") for p in pods}
    version = running.keycloak_version
    print(
        f"\nkeycloak tier: {stack.env}/{stack.city} runs Keycloak {version} "
        f"({replicas} pod(s), ready after " + ", ".join(f"{s:.0f} s" for s in ready.values()) + ")",
        file=sys.stderr,
    )
    return running


def first_ha_city() -> str:
    catalog = load_environment(PROJECT_ROOT, "prod")
    return next(slug for slug, c in sorted(catalog.cities.items()) if c.size_profile == "ha")


@pytest.fixture(scope="session")
def demo(
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
    yield running
    running.deployment.close()


@pytest.fixture(scope="session")
def ha(
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
    yield running
    running.deployment.close()
