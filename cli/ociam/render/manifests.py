"""From a preview's resources to plain Kubernetes manifests: one deterministic YAML stream.

Order: by kind (namespaces and policies first, workloads after what they use,
routes and monitoring last), then namespace and name. Formatting: sorted keys,
block style, no line wrapping, ``---`` between documents. Integral numbers come
out as integers (the Pulumi wire format carries every number as a double).
"""

from __future__ import annotations

from typing import Any

import yaml

from ociam.engines.base import PreviewResult

#: install order: what others depend on first (like Helm's)
KIND_ORDER = (
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "ServiceAccount",
    "Secret",
    "ConfigMap",
    "Certificate",
    "ClusterIssuer",
    "GatewayClass",
    "Gateway",
    "ObjectStore",
    "Cluster",
    "ScheduledBackup",
    "Service",
    "StatefulSet",
    "Deployment",
    "Job",
    "PodDisruptionBudget",
    "ListenerSet",
    "ReferenceGrant",
    "HTTPRoute",
    "SecurityPolicy",
    "ServiceMonitor",
    "PodMonitor",
    "PrometheusRule",
)
_RANK = {kind: index for index, kind in enumerate(KIND_ORDER)}

HEADER = (
    "# Rendered by `ociam render` from the catalog: do not edit; edit the catalog.\n"
    "# Stack {stack}. Secret values are never rendered: they appear as <secret>.\n"
)


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def sort_key(obj: dict[str, Any]) -> tuple[int, str, str, str]:
    meta = obj.get("metadata", {})
    kind = str(obj.get("kind", ""))
    return (
        _RANK.get(kind, len(KIND_ORDER)),
        kind,
        str(meta.get("namespace", "")),
        str(meta.get("name", "")),
    )


#: resources of the Kubernetes provider that are not Kubernetes objects (rendered apart)
HELM_RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"


def manifests(result: PreviewResult) -> list[dict[str, Any]]:
    """Every Kubernetes object of a preview, plain and in install order (Helm releases
    are not objects: ``ociam.render.platform`` renders them)."""
    objects = [
        _plain(step.inputs)
        for step in result.kubernetes_steps
        if step.inputs is not None and step.type != HELM_RELEASE_TYPE
    ]
    return sorted(objects, key=sort_key)


_BaseDumper: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_BaseDumper):  # type: ignore[valid-type,misc]
    """Block style; multi-line strings as literal blocks (libyaml when available: the
    pure-Python emitter is most of a render's time)."""


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _str_representer)


def dump(objects: list[dict[str, Any]], stack: str) -> str:
    """The YAML stream of a city: byte-identical for identical objects."""
    body = yaml.dump_all(
        objects,
        Dumper=_Dumper,
        sort_keys=True,
        default_flow_style=False,
        explicit_start=True,
        allow_unicode=True,
        width=10_000,
    )
    return HEADER.format(stack=stack) + body


def load(text: str) -> list[dict[str, Any]]:
    """Objects of a rendered stream (for diffs)."""
    return [doc for doc in yaml.safe_load_all(text) if doc]


def object_id(obj: dict[str, Any]) -> str:
    meta = obj.get("metadata", {})
    namespace = meta.get("namespace")
    name = meta.get("name", "?")
    return (
        f"{obj.get('kind', '?')} {namespace}/{name}" if namespace else f"{obj.get('kind')} {name}"
    )
