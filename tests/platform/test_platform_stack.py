"""The platform stack, rendered offline: releases, objects, validation, and how it fits
the city stacks that attach to it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from ociam.catalog import ENVIRONMENTS, load_environment
from ociam.components.platform_config import load_platform_file
from ociam.engines import offline
from ociam.engines.offline import OfflineEngine
from ociam.render.platform import render_platform, validate_platform
from ociam.render.validation import CRD_DIR_ENV
from tests.conftest import SHARED_DIR, shared_path
from tests.engines.conftest import ociam
from tests.stack.stack_support import edit_yaml, make_checkout, render

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _render(env: str, root: Path = PROJECT_ROOT) -> Any:
    return render_platform(OfflineEngine(root), root, env)


def _objects(rendered: Any, kind: str) -> list[dict[str, Any]]:
    return [o for o in rendered.objects if o["kind"] == kind]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_object_validates_against_its_schema(env: str) -> None:
    crds = shared_path(CRD_DIR_ENV, SHARED_DIR / "crds")
    problems = validate_platform(OfflineEngine(PROJECT_ROOT), PROJECT_ROOT, env, crds)
    assert problems == []


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_releases_are_pinned_in_install_order(env: str) -> None:
    rendered = _render(env)
    releases = {r["release"]: r for r in rendered.releases}
    assert list(releases) == [
        "cert-manager",
        "cnpg-operator",
        "cnpg-barman-cloud",
        "gateway-crds",
        "gateway-envoy",
    ]
    for record in rendered.releases:
        assert re.fullmatch(r"v?\d+\.\d+\.\d+", record["version"]), record
        assert record["atomic"] is True
        assert record["chart"].startswith("oci://") or record["repository"].startswith("https://")
    settings = load_environment(PROJECT_ROOT, env).settings
    assert releases["cnpg-operator"]["namespace"] == settings.cluster.cnpg_operator_namespace
    # the plugin must live beside the operator: CNPG-I finds plugins in its own namespace
    assert releases["cnpg-barman-cloud"]["namespace"] == settings.cluster.cnpg_operator_namespace
    assert releases["gateway-envoy"]["skipCrds"] is True
    assert releases["gateway-crds"]["values"]["crds"]["gatewayAPI"] == {
        "channel": "standard",
        "enabled": True,
    }
    assert releases["cert-manager"]["values"]["config"]["enableGatewayAPI"] is True


def test_chart_pins_install_the_crds_renders_are_validated_against() -> None:
    readme = (shared_path(CRD_DIR_ENV, SHARED_DIR / "crds") / "README.md").read_text("utf-8")
    rows = {
        cells[2]: cells[3]
        for line in readme.splitlines()
        if line.startswith("|") and (cells := [c.strip() for c in line.split("|")])[3:4]
    }
    charts = load_platform_file(PROJECT_ROOT).charts
    expected = {
        "cert-manager/cert-manager": charts.cert_manager.crds_version,
        "cloudnative-pg/cloudnative-pg": charts.cloudnative_pg.crds_version,
        "cloudnative-pg/plugin-barman-cloud": charts.barman_cloud.crds_version,
        "kubernetes-sigs/gateway-api (standard channel)": charts.gateway_crds.crds_version,
    }
    for project, version in expected.items():
        assert rows[project] == version, f"{project}: CRDs {rows[project]}, chart pin {version}"


def test_monitoring_hooks_follow_the_environment() -> None:
    dev, prod = _render("dev"), _render("prod")
    assert not load_environment(PROJECT_ROOT, "dev").settings.monitoring.enabled
    assert not _objects(dev, "PodMonitor") and not _objects(dev, "PrometheusRule")
    assert "prometheus" not in dev.releases[0]["values"]
    labels = dict(load_environment(PROJECT_ROOT, "prod").settings.monitoring.service_monitor_labels)
    for kind in ("PodMonitor", "PrometheusRule"):
        (found,) = _objects(prod, kind)
        assert labels.items() <= found["metadata"]["labels"].items()
    cert_manager = {r["release"]: r for r in prod.releases}["cert-manager"]["values"]
    assert cert_manager["prometheus"]["servicemonitor"] == {"enabled": True, "labels": labels}
    operator = {r["release"]: r for r in prod.releases}["cnpg-operator"]["values"]
    assert operator["monitoring"]["podMonitorEnabled"] is True


def test_namespaces_enforce_pod_security() -> None:
    rendered = _render("prod")
    enforce = {
        n["metadata"]["name"]: n["metadata"]["labels"]["pod-security.kubernetes.io/enforce"]
        for n in _objects(rendered, "Namespace")
    }
    assert enforce == {
        "cert-manager": "restricted",
        "cnpg-system": "restricted",
        "envoy-gateway-system": "baseline",  # proxies are made at run time: see the module
        "gateway-system": "restricted",
    }
    for namespace in _objects(rendered, "Namespace"):
        assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/warn"] == "restricted"


def test_what_owns_crds_is_protected_outside_dev(monkeypatch: pytest.MonkeyPatch) -> None:
    protected: dict[str, dict[str, bool]] = {}
    original = offline._Monitor.RegisterResource

    def recording(self: Any, request: Any) -> Any:
        protected.setdefault(current, {})[request.name] = bool(request.protect)
        return original(self, request)

    monkeypatch.setattr(offline._Monitor, "RegisterResource", recording)
    for current in ("dev", "prod"):
        _render(current)
    owners = {"cert-manager", "cnpg-operator", "cnpg-barman-cloud", "gateway-crds"}
    assert {name for name, flag in protected["prod"].items() if flag} == owners
    assert not any(protected["dev"].values())


def test_city_stacks_fit_the_shared_gateway_and_issuer() -> None:
    """What a city renders refers to what the platform renders, by the same names."""
    platform = _render("prod")
    (gateway,) = _objects(platform, "Gateway")
    (issuer,) = _objects(platform, "ClusterIssuer")
    city = render(PROJECT_ROOT, "prod", "pori")
    (listener_set,) = [o for o in city.objects if o["kind"] == "ListenerSet"]
    parent = listener_set["spec"]["parentRef"]
    assert (parent["name"], parent["namespace"]) == (
        gateway["metadata"]["name"],
        gateway["metadata"]["namespace"],
    )
    selector = gateway["spec"]["allowedListeners"]["namespaces"]
    assert selector["from"] == "Selector"
    (key,) = [e["key"] for e in selector["selector"]["matchExpressions"]]
    (namespace,) = [o for o in city.objects if o["kind"] == "Namespace"]
    assert key in namespace["metadata"]["labels"]
    (certificate,) = [o for o in city.objects if o["kind"] == "Certificate"]
    assert certificate["spec"]["issuerRef"]["name"] == issuer["metadata"]["name"]
    assert certificate["spec"]["issuerRef"]["kind"] == "ClusterIssuer"
    solver = issuer["spec"]["acme"]["solvers"][0]["http01"]["gatewayHTTPRoute"]["parentRefs"][0]
    (http,) = [
        item for item in gateway["spec"]["listeners"] if item["name"] == solver["sectionName"]
    ]
    assert http["port"] == 80
    # the ACME solver's route lives in the city namespace: the HTTP listener admits it
    assert http["allowedRoutes"]["namespaces"]["selector"] == selector["selector"]


def test_gateway_listener_mode_lists_each_city_hostname(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "checkout")
    edit_yaml(
        root / "inventories/staging/group_vars/all.yml",
        lambda d: d["gateway"].update(listener_mode="gateway-listener"),
    )
    rendered = _render("staging", root)
    (gateway,) = _objects(rendered, "Gateway")
    assert "allowedListeners" not in gateway["spec"]
    catalog = load_environment(root, "staging")
    https = {item["hostname"]: item for item in gateway["spec"]["listeners"] if item["port"] == 443}
    for city in catalog.cities.values():
        for hostname in (city.hostnames.public, city.hostnames.admin):
            ref = https[hostname]["tls"]["certificateRefs"][0]
            assert ref["namespace"] == city.namespace and ref["name"] == "keycloak-tls"
    crds = shared_path(CRD_DIR_ENV, SHARED_DIR / "crds")
    assert validate_platform(OfflineEngine(root), root, "staging", crds) == []
    # each city route attaches to the listener of its own hostname by name, never to
    # the plain-HTTP listener (a parentRef without sectionName would attach to both)
    listeners = {item["name"]: item for item in gateway["spec"]["listeners"]}
    city = render(root, "staging", "pori")
    for route in (o for o in city.objects if o["kind"] == "HTTPRoute"):
        (parent,) = route["spec"]["parentRefs"]
        listener = listeners[parent["sectionName"]]
        assert listener["protocol"] == "HTTPS"
        assert [listener["hostname"]] == route["spec"]["hostnames"]


def test_another_gateway_implementation_is_refused_clearly(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "checkout")
    edit_yaml(
        root / "inventories/dev/group_vars/all.yml",
        lambda d: d["gateway"].update(implementation="istio"),
    )
    run = ociam("render", "--env", "dev", "--platform", "--out", str(tmp_path / "r"), root=root)
    assert run.exit_code == 1
    assert "the platform stack installs envoy-gateway" in run.stderr


def test_preinstalled_charts_leave_the_stack_its_own_objects(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "checkout")
    edit_yaml(
        root / "stacks/platform/platform.yml",
        lambda d: d["environments"]["dev"].update(charts="preinstalled"),
    )
    installed, preinstalled = _render("dev"), _render("dev", root)
    assert installed.releases
    assert preinstalled.releases == ()
    assert sorted(o["metadata"]["name"] for o in preinstalled.objects) == sorted(
        o["metadata"]["name"] for o in installed.objects
    )
    for step in preinstalled.result.steps:
        assert step.type != "kubernetes:helm.sh/v3:Release", step.name


def test_a_bad_platform_file_names_the_field(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "checkout")
    edit_yaml(
        root / "stacks/platform/platform.yml",
        lambda d: d["charts"]["cert_manager"].update(version="latest"),
    )
    run = ociam("render", "--env", "dev", "--platform", "--out", str(tmp_path / "r"), root=root)
    assert run.exit_code == 1
    assert "charts.cert_manager.version" in run.stderr


def test_render_writes_releases_objects_and_what_is_not_rendered(tmp_path: Path) -> None:
    out = tmp_path / "rendered"
    for attempt in range(2):
        run = ociam("render", "--env", "prod", "--platform", "--out", str(out / str(attempt)))
        assert run.exit_code == 0, run.output
    first, second = (out / str(i) / "platform" / "prod" for i in range(2))
    names = sorted(p.name for p in first.iterdir())
    assert names == ["NOT-RENDERED.md", "helm-releases.yaml", "manifests.yaml"]
    for name in names:
        assert (first / name).read_bytes() == (second / name).read_bytes(), name
    releases = list(yaml.safe_load_all((first / "helm-releases.yaml").read_text("utf-8")))
    not_rendered = (first / "NOT-RENDERED.md").read_text("utf-8")
    for record in releases:
        assert f"| {record['release']} | {record['chart']} | {record['version']} |" in not_rendered
    assert "cannot show what the charts contain" in not_rendered
    manifests = list(yaml.safe_load_all((first / "manifests.yaml").read_text("utf-8")))
    assert all("kind" in doc for doc in manifests if doc)
