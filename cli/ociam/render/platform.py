"""Render and validate an environment's platform stack offline.

``<out>/platform/<env>/`` holds:

* ``manifests.yaml``: the objects the stack creates itself (Namespaces,
  GatewayClass, Gateway, ClusterIssuer, monitoring objects), validated like a
  city's;
* ``helm-releases.yaml``: every Helm release with its chart, pinned version,
  repository, namespace and values, in install order;
* ``NOT-RENDERED.md``: what no offline render can show: the objects inside the
  charts (no chart repository is reachable offline), and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ociam.catalog import load_environment
from ociam.engines.base import PreviewResult, ResourceStep, StackRef
from ociam.engines.offline import OfflineEngine
from ociam.render.manifests import HELM_RELEASE_TYPE, dump, manifests, object_id
from ociam.render.validation import ManifestProblem, ManifestValidator

MANIFESTS_FILE = "manifests.yaml"
RELEASES_FILE = "helm-releases.yaml"
NOT_RENDERED_FILE = "NOT-RENDERED.md"

#: what each chart installs that the offline render cannot show
CHART_CONTENTS = {
    "cert-manager": "controller, webhook and cainjector Deployments, RBAC, webhooks, "
    "cert-manager CRDs (cert-manager.io, acme.cert-manager.io)",
    "cloudnative-pg": "operator Deployment, RBAC, webhooks, postgresql.cnpg.io CRDs",
    "plugin-barman-cloud": "plugin Deployment and Service, its cert-manager Issuer and "
    "Certificates, RBAC, the barmancloud.cnpg.io ObjectStore CRD",
    "gateway-crds-helm": "Gateway API CRDs (standard channel) and Envoy Gateway CRDs "
    "(EnvoyProxy, ClientTrafficPolicy, SecurityPolicy, ...)",
    "gateway-helm": "Envoy Gateway controller Deployment, RBAC, certgen Job; the Envoy proxy "
    "Deployments it creates at run time for each Gateway",
}


def platform_dir(out: Path, env: str) -> Path:
    return out / "platform" / env


def _chart_name(chart: str) -> str:
    return chart.rstrip("/").rsplit("/", 1)[-1]


def release_record(step: ResourceStep) -> dict[str, Any]:
    """A Helm release as rendered: what `helm upgrade --install` would be given."""
    inputs = step.inputs or {}
    record: dict[str, Any] = {
        "release": inputs.get("name", step.name),
        "namespace": inputs.get("namespace"),
        "chart": inputs.get("chart"),
        "version": inputs.get("version"),
    }
    repository = (inputs.get("repositoryOpts") or {}).get("repo")
    if repository:
        record["repository"] = repository
    for key in ("skipCrds", "atomic", "cleanupOnFail", "timeout", "maxHistory"):
        if key in inputs:
            value = inputs[key]
            record[key] = int(value) if isinstance(value, float) and value.is_integer() else value
    record["values"] = _plain(inputs.get("values") or {})
    return record


def _plain(value: Any) -> Any:
    """Integral numbers as integers, mapping keys sorted (deterministic output)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def releases(result: PreviewResult) -> list[dict[str, Any]]:
    """The Helm releases of a preview in install order (``CHART_CONTENTS`` order: what
    others need first), then by name."""
    rank = {chart: index for index, chart in enumerate(CHART_CONTENTS)}
    records = [release_record(s) for s in result.steps if s.type == HELM_RELEASE_TYPE]
    return sorted(
        records,
        key=lambda r: (rank.get(_chart_name(str(r["chart"])), len(rank)), str(r["release"])),
    )


def not_rendered(records: list[dict[str, Any]], env: str) -> str:
    lines = [
        f"# Not rendered offline: platform/{env}",
        "",
        "The offline render shows each Helm release's chart, pinned version and values",
        f"({RELEASES_FILE}) and validates the objects the platform stack creates itself",
        f"({MANIFESTS_FILE}). It cannot show what the charts contain: no chart repository",
        "is reachable offline, so nothing below is rendered or validated here. The Pulumi",
        "engine (`ociam preview --platform --engine pulumi`) installs them through Helm.",
        "",
        "| release | chart | version | contains (not rendered) |",
        "|---|---|---|---|",
    ]
    for record in records:
        chart = str(record["chart"])
        contents = CHART_CONTENTS.get(_chart_name(chart), "the chart's objects")
        lines.append(f"| {record['release']} | {chart} | {record['version']} | {contents} |")
    lines += [
        "",
        "Also not checked offline: that each chart version exists in its repository",
        "(CI checks with `helm show chart`), the charts' values schemas, CEL rules of the",
        "CRDs, and anything that needs the live cluster (the Gateway's programmed status,",
        "ACME reachability of the issuer).",
        "",
    ]
    return "\n".join(lines)


@dataclass(frozen=True)
class RenderedPlatform:
    """One environment's platform stack rendered."""

    env: str
    result: PreviewResult
    objects: tuple[dict[str, Any], ...]
    releases: tuple[dict[str, Any], ...]
    files: dict[str, str]
    notes: list[str] = field(default_factory=list)

    @property
    def stack(self) -> StackRef:
        return self.result.stack

    def kinds(self) -> dict[str, list[str]]:
        by_kind: dict[str, list[str]] = {}
        for record in self.releases:
            by_kind.setdefault("HelmRelease", []).append(
                f"HelmRelease {record['namespace']}/{record['release']}"
            )
        for obj in self.objects:
            by_kind.setdefault(str(obj.get("kind")), []).append(object_id(obj))
        return by_kind


def render_platform(engine: OfflineEngine, root: Path, env: str) -> RenderedPlatform:
    result = engine.preview(StackRef.platform(env))
    objects = manifests(result)
    records = releases(result)
    files = {
        MANIFESTS_FILE: dump(objects, f"platform/{env}"),
        RELEASES_FILE: "# Helm releases of platform/"
        + env
        + " in install order, rendered by `ociam render --platform`.\n"
        + yaml.safe_dump_all(records, sort_keys=False, explicit_start=True, width=10_000),
        NOT_RENDERED_FILE: not_rendered(records, env),
    }
    notes = [
        f"{len(records)} Helm releases: their charts' objects are not rendered offline "
        f"(see {NOT_RENDERED_FILE})"
    ]
    return RenderedPlatform(env, result, tuple(objects), tuple(records), files, notes)


def validate_platform(
    engine: OfflineEngine, root: Path, env: str, crd_dir: Path
) -> list[ManifestProblem]:
    """Render the platform stack and validate every object it creates itself."""
    rendered = render_platform(engine, root, env)
    version = load_environment(root, env).settings.kubernetes_version
    return ManifestValidator(version, crd_dir).validate_all(list(rendered.objects))
