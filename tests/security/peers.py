"""The pods a NetworkPolicy analyzer must see to judge a city's policies.

A render holds workloads (StatefulSet, Jobs) and custom resources; at run time the
cluster also has pods nobody renders: the CloudNativePG instances the operator
creates from the ``Cluster``, cert-manager's ACME HTTP-01 solver (created in the
Certificate's namespace for each challenge: the platform's ClusterIssuer proves
domain ownership over HTTP through the shared Gateway, see
cli/ociam/components/platform.py), the platform's controllers and proxies, the
cluster DNS, and anything else in other namespaces. Each is made here as a plain Pod
with the labels its owner gives it, in the namespace the catalog names; every
workload of the render becomes pods as a kubelet would run them (two replicas of a
StatefulSet, so that pod-to-pod flows show: the analyzer leaves a workload's
connections to itself out).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ociam.catalog.environment import EnvironmentSettings

NS_LABEL = "kubernetes.io/metadata.name"
#: what cert-manager puts on an HTTP-01 solver pod (pkg/issuer/acme/http/pod.go)
ACME_SOLVER_LABELS = {
    "acme.cert-manager.io/http-domain": "1",
    "acme.cert-manager.io/http-token": "1",
    "acme.cert-manager.io/http01-solver": "true",
}
ACME_SOLVER = "acme-http01-solver"
#: a Job's name carries a content hash (realm_config.py); its pod is named without it
JOB_HASH = re.compile(r"-[0-9a-f]{10}$")
#: another namespace's workload, with no policy of its own (the default in a cluster)
OTHER_NAMESPACE = "default"


@dataclass(frozen=True)
class Peer:
    """One pod of the analysis and the name the connectivity matrix gives it."""

    namespace: str
    pod: str
    name: str
    labels: dict[str, str]

    def manifest(self) -> dict[str, Any]:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": self.pod, "namespace": self.namespace, "labels": self.labels},
            "spec": {"containers": [{"name": "main", "image": "stand-in"}]},
        }


def namespace_manifest(name: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    """A Namespace as the API server stores it (it always adds the name label)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {**(labels or {}), NS_LABEL: name}},
    }


def platform_peers(settings: EnvironmentSettings) -> list[Peer]:
    """The pods outside the city namespaces, with the labels their charts give them."""
    cluster = settings.cluster
    gateway = settings.gateway
    proxies = gateway.proxy_namespace
    found = [
        Peer(cluster.dns_namespace, "coredns", "", dict(cluster.dns_pod_labels)),
        Peer(
            proxies,
            "envoy-proxy",
            "",
            {
                "app.kubernetes.io/component": "proxy",
                "app.kubernetes.io/managed-by": "envoy-gateway",
                "app.kubernetes.io/name": "envoy",
                "gateway.envoyproxy.io/owning-gateway-name": gateway.name,
                "gateway.envoyproxy.io/owning-gateway-namespace": gateway.namespace,
            },
        ),
        Peer(
            proxies,
            "envoy-gateway",
            "",
            {"app.kubernetes.io/name": "gateway-helm", "control-plane": "envoy-gateway"},
        ),
        Peer(
            cluster.cnpg_operator_namespace,
            "cnpg-operator",
            "",
            {"app.kubernetes.io/name": "cloudnative-pg"},
        ),
        Peer(
            cluster.cnpg_operator_namespace,
            "barman-cloud",
            "",
            {"app.kubernetes.io/name": "plugin-barman-cloud"},
        ),
        Peer("cert-manager", "cert-manager", "", {"app.kubernetes.io/name": "cert-manager"}),
        Peer(
            settings.monitoring.namespace or "monitoring",
            "prometheus",
            "",
            {"app.kubernetes.io/name": "prometheus"},
        ),
        Peer(OTHER_NAMESPACE, "workload", "", {"app": "workload"}),
    ]
    return [
        Peer(p.namespace, p.pod, f"{p.namespace}/{p.pod}", p.labels)
        for p in sorted(found, key=lambda p: (p.namespace, p.pod))
    ]


def _template_pods(obj: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(pod name, matrix name, labels) of the pods a rendered workload runs."""
    kind = obj["kind"]
    name = obj["metadata"]["name"]
    spec = obj.get("spec", {})
    if kind == "StatefulSet":
        labels = spec["template"]["metadata"].get("labels", {})
        return [(f"{name}-{i}", name, labels) for i in range(2)]
    if kind in {"Deployment", "DaemonSet", "ReplicaSet"}:
        labels = spec["template"]["metadata"].get("labels", {})
        return [(f"{name}-{s}", name, labels) for s in ("a", "b")]
    if kind == "Job":
        base = JOB_HASH.sub("", name)
        return [(base, base, spec["template"]["metadata"].get("labels", {}))]
    if kind == "CronJob":
        template = spec["jobTemplate"]["spec"]["template"]
        return [(name, name, template["metadata"].get("labels", {}))]
    if kind == "Pod":
        return [(name, name, obj["metadata"].get("labels", {}))]
    if kind == "Cluster" and obj["apiVersion"].startswith("postgresql.cnpg.io/"):
        inherited = spec.get("inheritedMetadata", {}).get("labels", {})
        return [
            (
                f"{name}-{i}",
                name,
                {
                    **inherited,
                    "cnpg.io/cluster": name,
                    "cnpg.io/instanceName": f"{name}-{i}",
                    "cnpg.io/instanceRole": role,
                    "cnpg.io/podRole": "instance",
                    "role": role,
                },
            )
            for i, role in ((1, "primary"), (2, "replica"))
        ]
    return []


def city_peers(objects: Sequence[dict[str, Any]]) -> list[Peer]:
    """The pods one rendered city runs, plus cert-manager's solver pod in its namespace."""
    found: list[Peer] = []
    namespace = ""
    for obj in objects:
        if obj["kind"] == "Namespace":
            namespace = obj["metadata"]["name"]
            continue
        for pod, name, labels in _template_pods(obj):
            found.append(Peer(obj["metadata"]["namespace"], pod, name, dict(labels)))
    if not namespace:
        raise ValueError("the render has no Namespace")
    found.append(Peer(namespace, ACME_SOLVER, ACME_SOLVER, dict(ACME_SOLVER_LABELS)))
    return found
