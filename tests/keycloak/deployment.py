"""One city's rendered Keycloak, run for real: its pods, its database, its Secrets.

:func:`render` runs ``ociam render`` as a user would; :class:`CityDeployment`
then plays the namespace: a podman network standing in for the pod network,
the PostgreSQL stand-in (tests/realsys/postgres.py) under the rendered database
host name, the rendered Secrets and ConfigMaps with test values for every
``<secret>``, and Keycloak pods run from the rendered StatefulSet template by
the test kubelet (tests/realsys/pod_runner.py).
"""

from __future__ import annotations

import ipaddress
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from ociam.catalog import load_environment
from ociam.realms.placeholders import substitution_safe
from tests.keycloak import gateway
from tests.keycloak.admin import KeycloakAdmin
from tests.realsys.images import postgresql_tag
from tests.realsys.pod_runner import TEST_LABEL, ClusterState, Json, Pod, podman, resolve_env
from tests.realsys.postgres import PostgresStandIn
from tests.realsys.tls import TestCA

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: how long a city is watched with its probes running before tests use it
HOLD_SECONDS = 60
READY_TIMEOUT = 900
OCIAM = Path(sys.executable).parent / "ociam"
KEYCLOAK_LOCAL = "localhost/ociam-keycloak"
#: characters that break a value substituted textually into JSON or YAML, or that the
#: substitutor would read as another variable: every realm secret of the tests has them
HOSTILE = "\"\\$(env:PATH)'ä€#: \t"
#: Secrets whose keys keycloak-config-cli substitutes into realm files
SUBSTITUTED_SECRET = "realm-config-env"


@dataclass(frozen=True)
class RenderedStack:
    """``ociam render`` output of one city: its objects and published files."""

    env: str
    city: str
    directory: Path
    objects: list[Json]

    @classmethod
    def load(cls, directory: Path) -> RenderedStack:
        with (directory / "manifests.yaml").open(encoding="utf-8") as handle:
            objects = [o for o in yaml.safe_load_all(handle) if o]
        return cls(directory.parent.name, directory.name, directory, objects)

    @property
    def namespace(self) -> str:
        return str(self.one("Namespace")["metadata"]["name"])

    def all(self, kind: str) -> list[Json]:
        return [o for o in self.objects if o["kind"] == kind]

    def one(self, kind: str, name: str | None = None) -> Json:
        found = [o for o in self.all(kind) if name is None or o["metadata"]["name"] == name]
        if len(found) != 1:
            raise LookupError(f"{self.env}/{self.city}: {len(found)} {kind} named {name}")
        return found[0]

    def job(self, suffix: str) -> Json:
        """The realm configuration Job whose name starts ``realm-config-<suffix>-``."""
        (job,) = [
            j
            for j in self.all("Job")
            if j["metadata"]["name"].startswith(f"realm-config-{suffix}-")
        ]
        return job

    def job_files(self, suffix: str) -> dict[str, str]:
        """The files the Job mounts (its ConfigMap), by name, in keycloak-config-cli's order."""
        spec = self.job(suffix)["spec"]["template"]["spec"]
        (volume,) = [v for v in spec["volumes"] if "configMap" in v]
        data = self.one("ConfigMap", volume["configMap"]["name"])["data"]
        return dict(sorted(data.items()))

    def env_of(self, kind: str, name: str, container: str) -> list[Json]:
        spec = self.one(kind, name)["spec"]["template"]["spec"]
        (found,) = [c for c in spec["containers"] if c["name"] == container]
        return list(found.get("env") or [])


def render(
    out: Path, env: str, city: str | None = None, root: Path = PROJECT_ROOT
) -> list[RenderedStack]:
    """``ociam render --env E (--city C | --all) --out OUT`` in ``root``, as a user runs it."""
    selection = ["--city", city] if city else ["--all"]
    result = subprocess.run(
        [str(OCIAM), "render", "--env", env, *selection, "--out", str(out)],
        cwd=root,
        env={**os.environ, "OCIAM_ROOT": str(root)},
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise AssertionError(f"ociam render --env {env} failed:\n{result.stdout}{result.stderr}")
    base = out / env
    cities = [city] if city else sorted(p.name for p in base.iterdir() if p.is_dir())
    return [RenderedStack.load(base / c) for c in cities]


@dataclass
class TestValues:
    """Test values for every ``<secret>`` of a render, stable for the session.

    Realm secrets (the keys keycloak-config-cli substitutes) hold :data:`HOSTILE`
    characters; the Secret then holds them the way the city program stores them
    (``substitution_safe``), and :meth:`raw` is what the realm must end up with.
    """

    __test__ = False

    values: dict[tuple[str, str], str] = field(default_factory=dict)

    def raw(self, secret: str, key: str) -> str:
        if (secret, key) not in self.values:
            token = secrets.token_hex(16)
            hostile = secret == SUBSTITUTED_SECRET and key.startswith("OCIAM_SECRET_")
            self.values[(secret, key)] = f"{token}{HOSTILE}" if hostile else token
        return self.values[(secret, key)]

    def stored(self, secret: str, key: str) -> str:
        """What the Secret holds: realm secrets as the city program encodes them."""
        raw = self.raw(secret, key)
        if secret == SUBSTITUTED_SECRET and key.startswith("OCIAM_SECRET_"):
            return substitution_safe(raw)
        return raw


@dataclass(frozen=True)
class ImageSet:
    """Rendered image references and the local stand-ins the test kubelet runs instead."""

    mapping: dict[str, str]

    @classmethod
    def for_stacks(cls, stacks: Iterable[RenderedStack]) -> ImageSet:
        mapping = {}
        for stack in stacks:
            for kind in ("StatefulSet",):
                for workload in stack.all(kind):
                    spec = workload["spec"]["template"]["spec"]
                    for c in [*spec.get("initContainers", []), *spec["containers"]]:
                        mapping[c["image"]] = local_keycloak_image(c["image"])
        return cls(mapping)


def local_keycloak_image(reference: str) -> str:
    """The locally built image for a rendered Keycloak reference (by its pinned tag)."""
    name, _, _digest = reference.partition("@")
    tag = name.rsplit(":", 1)[1]
    found = podman(
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        "--filter",
        f"reference={KEYCLOAK_LOCAL}",
        "--filter",
        f"label=ociam.keycloak.pinned={tag}",
    ).split()
    if not found:
        raise AssertionError(
            f"no local Keycloak image for {reference}: run .ci/bootstrap "
            "(python -m tests.realsys.prepare builds it from Maven Central's distribution)"
        )
    return found[0]


def keycloak_version(image: str) -> str:
    """The Keycloak version an image was built from (may differ from the pin, see images.py)."""
    return podman(
        "image", "inspect", "--format", '{{ index .Labels "ociam.keycloak.version" }}', image
    ).strip()


class CityDeployment:
    """The city's namespace, played on one podman network."""

    def __init__(
        self,
        stack: RenderedStack,
        *,
        images: ImageSet,
        postgresql_image: str,
        work_dir: Path,
        subnet: ipaddress.IPv4Network,
        values: TestValues,
    ) -> None:
        self.stack = stack
        self.images = images
        self.work_dir = work_dir
        self.subnet = subnet
        self.values = values
        self.network = f"ociam-kc-{stack.env}-{stack.city}"
        self.namespace = stack.namespace
        self.state = cluster_state(stack, values)
        self.pods: list[Pod] = []
        statefulset = stack.one("StatefulSet", "keycloak")
        env = {e["name"]: e.get("value") for e in statefulset_env(statefulset)}
        self.public_host = str(env["KC_HOSTNAME"]).removeprefix("https://")
        self.admin_host = str(env["KC_HOSTNAME_ADMIN"]).removeprefix("https://")
        self.database = PostgresStandIn(
            cluster=str(env["KC_DB_URL_HOST"]).removesuffix("-rw"),
            host=str(env["KC_DB_URL_HOST"]),
            namespace=self.namespace,
            database=str(env["KC_DB_URL_DATABASE"]),
            owner="keycloak",
            image=postgresql_image,
            network=self.network,
            work_dir=work_dir / "postgresql",
            ca=TestCA(f"{stack.city} CloudNativePG stand-in CA"),
        )

    # --- lifecycle ---

    def start_database(self) -> None:
        podman("network", "rm", "--force", self.network, check=False)
        podman(
            "network",
            "create",
            "--label",
            f"{TEST_LABEL}=network",
            "--subnet",
            str(self.subnet),
            self.network,
        )
        self.database.start()
        for name, data in self.database.secrets().items():
            self.state.add_secret(name, data)

    def keycloak_pod(self, ordinal: int) -> Pod:
        """Pod ``keycloak-<ordinal>`` of the rendered StatefulSet (not started)."""
        statefulset = self.stack.one("StatefulSet", "keycloak")
        service = statefulset["spec"]["serviceName"]
        name = f"keycloak-{ordinal}"
        aliases = [
            f"{name}.{service}",
            f"{name}.{service}.{self.namespace}.svc",
            f"{name}.{service}.{self.namespace}.svc.cluster.local",
            # the Services that select these pods
            "keycloak",
            f"keycloak.{self.namespace}.svc",
            f"keycloak.{self.namespace}.svc.cluster.local",
        ]
        pod = Pod(
            name=f"{self.stack.env}-{self.stack.city}-{name}",
            template=statefulset["spec"]["template"],
            state=self.state,
            network=self.network,
            images=self.images.mapping,
            work_dir=self.work_dir / "pods",
            hostname=name,
            subdomain=service,
            aliases=aliases,
        )
        self.pods.append(pod)
        return pod

    def close(self) -> None:
        for pod in self.pods:
            pod.stop()
        self.database.stop()
        podman("network", "rm", "--force", self.network, check=False)

    # --- clients ---

    def ready_backends(self) -> list[tuple[str, int]]:
        return [(p.ip, 8080) for p in self.pods if p.ready and p.ip]

    def browser(
        self, pod: Pod | None = None, extra_routes: Sequence[gateway.Route] = ()
    ) -> requests.Session:
        """A browser on the internet, through the gateway (to ``pod`` only, if given).

        The gateway routes what the rendered HTTPRoutes route, plus ``extra_routes``
        (test scaffolding such as the probe realm, named as such by the caller)."""

        def backends() -> list[tuple[str, int]]:
            return [(pod.ip or "", 8080)] if pod is not None else self.ready_backends()

        routes = [gateway.Route.from_manifest(r) for r in self.stack.all("HTTPRoute")]
        return gateway.browser([*routes, *extra_routes], backends)

    def service_url(self) -> str:
        """The URL the realm configuration Jobs use (from the rendered apply Job)."""
        (container,) = self.stack.job("apply")["spec"]["template"]["spec"]["containers"]
        return str(next(e["value"] for e in container["env"] if e["name"] == "KEYCLOAK_URL"))

    def in_cluster(self, pod: Pod | None = None) -> requests.Session:
        def backends() -> list[tuple[str, int]]:
            return [(pod.ip or "", 8080)] if pod is not None else self.ready_backends()

        return gateway.in_cluster(self.service_url(), backends)

    def job_env(self, suffix: str) -> dict[str, str]:
        """The environment the realm configuration Job's container would get."""
        return job_env(self.stack, suffix, self.state)

    def bootstrap_admin(self, pod: Pod | None = None) -> KeycloakAdmin:
        """The bootstrap service account (break-glass master admin), as the bootstrap Job."""
        env = self.job_env("bootstrap")
        return KeycloakAdmin(
            self.in_cluster(pod),
            self.service_url(),
            env["KEYCLOAK_CLIENTID"],
            env["KEYCLOAK_CLIENTSECRET"],
        )

    def config_client(self, pod: Pod | None = None) -> KeycloakAdmin:
        """The least-privilege config client, as the apply Job logs in."""
        env = self.job_env("apply")
        return KeycloakAdmin(
            self.in_cluster(pod),
            self.service_url(),
            env["KEYCLOAK_CLIENTID"],
            env["KEYCLOAK_CLIENTSECRET"],
        )


def job_env(stack: RenderedStack, suffix: str, state: ClusterState) -> dict[str, str]:
    """The environment the kubelet would give the realm configuration Job's container."""
    (container,) = stack.job(suffix)["spec"]["template"]["spec"]["containers"]
    return resolve_env(container, state, {})


def cluster_state(stack: RenderedStack, values: TestValues) -> ClusterState:
    """The namespace's rendered Secrets and ConfigMaps with the session's test values."""
    return ClusterState.from_manifests(stack.namespace, stack.objects, values.stored)


def statefulset_env(statefulset: Json) -> list[Any]:
    (container,) = [
        c for c in statefulset["spec"]["template"]["spec"]["containers"] if c["name"] == "keycloak"
    ]
    return list(container.get("env") or [])


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

    @property
    def summary(self) -> str:
        stack = self.deployment.stack
        pinned = self.pod.spec["containers"][0]["image"].rsplit(":", 1)[-1].split("@")[0]
        ready = ", ".join(f"{s:.0f} s" for s in self.seconds_to_ready.values())
        return (
            f"{stack.env}/{stack.city} ran Keycloak {self.keycloak_version} (pinned {pinned}), "
            f"{len(self.pods)} pod(s) ready after {ready}"
        )


def subnet_for(stack: RenderedStack, index: int) -> ipaddress.IPv4Network:
    """A /24 of the environment's pod network (from its end), for one city's pods."""
    env = load_environment(PROJECT_ROOT, stack.env)
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
    hold_seconds: int = HOLD_SECONDS,
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
    deadline = time.monotonic() + hold_seconds
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
    print(f"\nkeycloak tier: {running.summary}", file=sys.stderr)
    return running
