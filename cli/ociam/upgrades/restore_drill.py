"""The monthly restore drill: prove that a city's database can be restored from its
object store, without touching the city.

Into a scratch namespace ``iam-<city>-drill`` (Pod Security ``restricted``): a copy of
the object store's credentials Secret, the Barman Cloud ``ObjectStore`` pointing at the
city's own backup folder, and a CloudNativePG ``Cluster`` (one instance, the city's
PostgreSQL image and storage size) bootstrapped by ``recovery`` from it. The restored
cluster archives no WAL (no ``plugins``), so it never writes into the city's folder.
NetworkPolicies: default deny, DNS, the CNPG operator to 5432/8000, the API server
and the object store over HTTPS. The drill waits until the Cluster reports a healthy
state, then deletes the namespace (``--keep`` leaves it for inspection).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ociam.catalog import CityConfig
from ociam.components.base import CITY_LABEL, CityContext
from ociam.components.database import BARMAN_PLUGIN, CLUSTER_NAME, OBJECT_STORE, object_store_spec
from ociam.components.network import CNPG_STATUS_PORT, NS_LABEL
from ociam.kube import KubeClient

DRILL_CLUSTER = f"{CLUSTER_NAME}-drill"
HEALTHY = "Cluster in healthy state"
PURPOSE_LABEL = "ociam.fi/purpose"


class DrillFailed(Exception):
    """The restore did not become healthy, or a step failed."""


def drill_namespace(config: CityConfig) -> str:
    return f"{config.namespace}-drill"


def _policy(name: str, namespace: str, labels: dict[str, str], spec: dict[str, Any]) -> Any:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": spec,
    }


def drill_objects(config: CityConfig) -> list[dict[str, Any]]:
    """Everything the drill creates, in order (the credentials Secret is copied from the
    city namespace at run time and is not part of this list)."""
    city = CityContext(config)
    namespace = drill_namespace(config)
    cluster = config.settings.cluster
    store = config.settings.backup.object_store
    labels = {CITY_LABEL: config.slug, PURPOSE_LABEL: "restore-drill"}
    pg = {"cnpg.io/cluster": DRILL_CLUSTER}
    backup_to = (
        [{"ipBlock": {"cidr": str(c)}} for c in store.egress_cidrs]
        if store.egress_cidrs
        else [{"ipBlock": {"cidr": "0.0.0.0/0", "except": city.public_https_except()}}]
    )
    tcp = [{"port": 5432, "protocol": "TCP"}, {"port": CNPG_STATUS_PORT, "protocol": "TCP"}]
    return [
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": {
                    **labels,
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            },
        },
        _policy("default-deny", namespace, labels, {
            "podSelector": {}, "policyTypes": ["Ingress", "Egress"],
        }),
        _policy("allow-dns", namespace, labels, {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{
                "to": [{"namespaceSelector": {"matchLabels": {NS_LABEL: cluster.dns_namespace}}}],
                "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
            }],
        }),
        _policy("postgres-ingress", namespace, labels, {
            "podSelector": {"matchLabels": pg},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": [{"namespaceSelector": {
                    "matchLabels": {NS_LABEL: cluster.cnpg_operator_namespace}}}],
                "ports": tcp,
            }],
        }),
        _policy("postgres-egress", namespace, labels, {
            "podSelector": {"matchLabels": pg},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": str(c)}} for c in cluster.api_server_cidrs],
                    "ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}],
                },
                {"to": backup_to, "ports": [{"port": 443, "protocol": "TCP"}]},
            ],
        }),
        {
            "apiVersion": "barmancloud.cnpg.io/v1",
            "kind": "ObjectStore",
            "metadata": {"name": OBJECT_STORE, "namespace": namespace, "labels": labels},
            "spec": object_store_spec(city),
        },
        {
            "apiVersion": "postgresql.cnpg.io/v1",
            "kind": "Cluster",
            "metadata": {"name": DRILL_CLUSTER, "namespace": namespace, "labels": labels},
            "spec": {
                "instances": 1,
                "imageName": config.settings.images.postgresql.reference,
                "enableSuperuserAccess": False,
                "storage": {"size": config.spec.database.storage_size},
                "bootstrap": {"recovery": {"source": "origin"}},
                "externalClusters": [{
                    "name": "origin",
                    "plugin": {
                        "name": BARMAN_PLUGIN,
                        "parameters": {
                            "barmanObjectName": OBJECT_STORE, "serverName": CLUSTER_NAME,
                        },
                    },
                }],
            },
        },
    ]  # fmt: skip


PLURALS = {
    "Namespace": "namespaces",
    "NetworkPolicy": "networkpolicies",
    "ObjectStore": "objectstores",
    "Cluster": "clusters",
    "Secret": "secrets",
}


def _credentials(client: KubeClient, config: CityConfig, namespace: str) -> dict[str, Any]:
    name = config.settings.backup.object_store.credentials_secret
    found = client.get("v1", "secrets", name, config.namespace)
    if found is None:
        raise DrillFailed(f"Secret {config.namespace}/{name} (object store credentials) not found")
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": {CITY_LABEL: config.slug}},
        "type": found.get("type", "Opaque"),
        "data": found.get("data") or {},
    }


def run_drill(
    client: KubeClient,
    config: CityConfig,
    objects: list[dict[str, Any]],
    *,
    timeout: float,
    keep: bool = False,
    say: Callable[[str], None] = print,
    poll: float = 5.0,
) -> str:
    """Create the drill, wait for the restored Cluster to be healthy, remove it."""
    namespace = drill_namespace(config)
    started = time.monotonic()
    try:
        for obj in [objects[0], _credentials(client, config, namespace), *objects[1:]]:
            where = None if obj["kind"] == "Namespace" else namespace
            client.apply(obj["apiVersion"], PLURALS[obj["kind"]], where, obj)
            say(f"  created {obj['kind']} {obj['metadata']['name']}")
        while True:
            found = client.get("postgresql.cnpg.io/v1", "clusters", DRILL_CLUSTER, namespace) or {}
            phase = str((found.get("status") or {}).get("phase") or "")
            if phase == HEALTHY:
                break
            if time.monotonic() - started > timeout:
                raise DrillFailed(
                    f"Cluster {namespace}/{DRILL_CLUSTER} not healthy after {timeout:.0f} s "
                    f"(phase: {phase or 'none'})"
                )
            time.sleep(poll)
        return f"Cluster {namespace}/{DRILL_CLUSTER} restored and healthy in " + (
            f"{time.monotonic() - started:.0f} s"
        )
    finally:
        if not keep:
            client.delete("v1", "namespaces", namespace, None)
            say(f"  removed namespace {namespace}")
