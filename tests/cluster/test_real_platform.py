"""The platform stack (``ociam up --platform --env dev``) with the real engine, as far as
it runs without a chart registry.

All five Helm releases fetch their charts from the internet (charts.jetstack.io,
cloudnative-pg.github.io, docker.io's OCI registry), which these machines cannot reach:
cert-manager, cnpg-operator, cnpg-barman-cloud, gateway-crds and gateway-envoy cannot
install here. The first test shows that failure as a user would see it, the same on any
machine: the test's copy of stacks/platform/platform.yml points every chart at a
loopback port that is bound and never listened on (a connection there is refused at
once; no lookup leaves the machine), and the city asked for with the platform is
skipped. The others run the stack with ``charts: preinstalled``
(stacks/platform/platform.yml: the cluster provides the pinned charts, here the control
plane has their CRDs) and check the stack's own objects for real: namespaces, the
ClusterIssuer, the GatewayClass and the shared Gateway.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.real_deploy import RealDeploy, missing_from
from tests.realsys.control_plane import ControlPlane

PLATFORM_FILE = "stacks/platform/platform.yml"
DEV_ACME_EMAIL = "      email: iam-platform@hameenlinna.fi\n  staging:"
RELEASES = ("cert-manager", "cnpg-operator", "cnpg-barman-cloud", "gateway-crds", "gateway-envoy")
PLATFORM_NAMESPACES = ("cert-manager", "cnpg-system", "envoy-gateway-system", "gateway-system")
#: where platform.yml fetches charts from: each is pointed at the closed loopback port
CHART_SOURCES = (
    "https://charts.jetstack.io",
    "https://cloudnative-pg.github.io",
    "oci://docker.io",
)


@pytest.fixture(scope="module")
def closed_port() -> Iterator[int]:
    """A loopback port bound and never listened on: a connection to it is refused at once."""
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        yield int(closed.getsockname()[1])


@pytest.fixture(scope="module")
def deploy(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory, closed_port: int
) -> Iterator[RealDeploy]:
    deploy = RealDeploy.create(control_plane, tmp_path_factory.mktemp("real-platform"))
    platform = deploy.checkout / PLATFORM_FILE
    text = platform.read_text(encoding="utf-8")
    for source in CHART_SOURCES:
        assert source in text, source
        text = text.replace(source, f"{source.split('://')[0]}://127.0.0.1:{closed_port}")
    platform.write_text(text, encoding="utf-8")
    try:
        yield deploy
    finally:
        deploy.ociam("destroy", "--engine", "pulumi", "--env", "dev", "--platform", "--yes",
                     "--delete-protected")  # fmt: skip
        for namespace in PLATFORM_NAMESPACES:
            deploy.plane.client.delete("v1", "Namespace", namespace)
            deploy.wait_until_gone(namespace)


def _up(deploy: RealDeploy) -> dict[str, Any]:
    result = deploy.ociam("up", "--engine", "pulumi", "--env", "dev", "--platform",
                          "--output", "json")  # fmt: skip
    (stack,) = json.loads(result.stdout)["stacks"]
    assert stack["stack"] == "platform/dev"
    return dict(stack)


def test_the_helm_releases_cannot_fetch_their_charts_and_the_city_is_skipped(
    deploy: RealDeploy, closed_port: int
) -> None:
    result = deploy.ociam("up", "--engine", "pulumi", "--env", "dev", "--platform",
                          "--city", "demo", "--output", "json")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    stacks = {s["stack"]: s for s in json.loads(result.stdout)["stacks"]}
    assert {name: s["status"] for name, s in stacks.items()} == {
        "platform/dev": "failed",
        "dev-demo": "skipped",
    }
    assert stacks["dev-demo"]["error"] == "platform/dev failed to deploy"
    assert deploy.plane.client.get("v1", "Namespace", "iam-demo") is None
    error = stacks["platform/dev"]["error"]
    failed = [name for name in RELEASES if f"Release resource '{name}'" in error]
    # the releases nothing else waits for are tried first; each names the closed port
    assert {"cert-manager", "cnpg-operator", "gateway-crds"} & set(failed), error
    assert f"127.0.0.1:{closed_port}" in error and "connection refused" in error, error
    # what does not need a chart was created before the engine stopped
    for namespace in PLATFORM_NAMESPACES:
        assert deploy.plane.client.get("v1", "Namespace", namespace) is not None, namespace


def test_with_preinstalled_charts_the_stack_creates_its_own_objects(
    deploy: RealDeploy, tmp_path: Path
) -> None:
    deploy.edit(PLATFORM_FILE, DEV_ACME_EMAIL, DEV_ACME_EMAIL.replace(
        "\n  staging:", "\n    charts: preinstalled\n  staging:"
    ))  # fmt: skip
    stack = _up(deploy)
    assert stack["status"] == "ok", stack["error"]
    result = deploy.ociam("render", "--env", "dev", "--platform", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    text = (tmp_path / "platform" / "dev" / "manifests.yaml").read_text(encoding="utf-8")
    rendered = [doc for doc in yaml.safe_load_all(text) if doc]
    assert {o["kind"] for o in rendered} == {"Namespace", "ClusterIssuer", "GatewayClass",
                                              "Gateway"}  # fmt: skip
    problems = []
    for obj in rendered:
        live = deploy.live(obj)
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        if live is None:
            problems.append(f"{where}: not in the cluster")
            continue
        body = {k: v for k, v in obj.items() if k not in {"apiVersion", "kind"}}
        problems += missing_from(body, live, where)
    assert problems == [], "\n".join(problems)


def test_an_immediate_platform_preview_changes_nothing(deploy: RealDeploy) -> None:
    result = deploy.ociam("preview", "--engine", "pulumi", "--env", "dev", "--platform",
                          "--output", "json")  # fmt: skip
    (stack,) = json.loads(result.stdout)["stacks"]
    assert stack["status"] == "ok", stack["error"]
    assert stack["changes"] == []
