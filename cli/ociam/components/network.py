"""NetworkPolicies: default deny both ways, then exactly the flows the city needs.

DNS; the gateway's proxies to Keycloak 8080 and to cert-manager's ACME HTTP-01
solver pods (8089: the platform's issuer proves domain ownership over HTTP through
the shared Gateway, and the solver runs in the city's namespace); monitoring to
9000 (and PostgreSQL metrics);
Keycloak pod to pod 7800/57800 (jdbc-ping); Keycloak to PostgreSQL 5432;
the CloudNativePG operator to its instances; instances to each other, to the
Kubernetes API and to the backup object store; Keycloak to the connector hub
(LDAPS, one address, port 636) and to the identity brokers over HTTPS.
"""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ociam.components.base import KEYCLOAK_CLIENT_LABEL, CityContext, child_name, kube
from ociam.components.database import DatabaseConnection
from ociam.components.keycloak import JGROUPS_FD_PORT, JGROUPS_PORT, KeycloakEndpoints

NS_LABEL = "kubernetes.io/metadata.name"
#: CloudNativePG: instance manager status port and metrics port
CNPG_STATUS_PORT = 8000
CNPG_METRICS_PORT = 9187
#: cert-manager's ACME HTTP-01 solver pods (created in the Certificate's namespace for
#: the length of a challenge): their label and the port the acmesolver listens on
ACME_SOLVER_LABELS = {"acme.cert-manager.io/http01-solver": "true"}
ACME_SOLVER_PORT = 8089
#: Envoy Gateway's proxy pods (the labels Envoy Gateway gives them; the platform's
#: PodMonitor selects them the same way): only they, not the controller beside them,
#: reach the city
ENVOY_PROXY_LABELS = {
    "app.kubernetes.io/component": "proxy",
    "app.kubernetes.io/managed-by": "envoy-gateway",
}


def _ports(*ports: int, protocol: str = "TCP") -> list[dict[str, Any]]:
    return [{"port": port, "protocol": protocol} for port in ports]


def _namespace(name: str, pods: dict[str, str] | None = None) -> dict[str, Any]:
    peer: dict[str, Any] = {"namespaceSelector": {"matchLabels": {NS_LABEL: name}}}
    if pods is not None:
        peer["podSelector"] = {"matchLabels": pods}
    return peer


def _pods(labels: dict[str, str]) -> dict[str, Any]:
    return {"podSelector": {"matchLabels": labels}}


def _cidrs(cidrs: list[str], except_: list[str] | None = None) -> list[dict[str, Any]]:
    return [
        {"ipBlock": {"cidr": cidr, **({"except": except_} if except_ else {})}} for cidr in cidrs
    ]


def has_brokers(city: CityContext) -> bool:
    """Whether Keycloak calls identity brokers (Entra ID, Suomi.fi) over HTTPS."""
    realms = city.config.spec.realms
    return realms.residents is not None or (
        realms.employees is not None and realms.employees.entra_id is not None
    )


def policies(
    city: CityContext, keycloak: KeycloakEndpoints, db: DatabaseConnection
) -> dict[str, dict[str, Any]]:
    """Every NetworkPolicy spec of the city, by name."""
    settings = city.config.settings
    cluster = settings.cluster
    gateway = settings.gateway
    kc = keycloak.selector
    public = ["0.0.0.0/0"]
    public_except = city.public_https_except()
    specs: dict[str, dict[str, Any]] = {
        "default-deny": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
        "allow-dns": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [_namespace(cluster.dns_namespace, cluster.dns_pod_labels)],
                    "ports": [*_ports(53, protocol="UDP"), *_ports(53)],
                }
            ],
        },
    }
    # proxies outside the pod network (e.g. node-level or external) are matched by
    # address; proxies inside it by namespace (pod IPs in ipBlocks are not portable)
    external_proxies = [
        str(c)
        for c in gateway.source_cidrs
        if not any(c.overlaps(pod) for pod in cluster.pod_cidrs)
    ]
    proxy_pods = ENVOY_PROXY_LABELS if gateway.implementation == "envoy-gateway" else None
    proxies = [_namespace(gateway.proxy_namespace, proxy_pods), *_cidrs(external_proxies)]
    ingress: list[dict[str, Any]] = [
        {"from": proxies, "ports": _ports(keycloak.http_port)},
        {
            "from": [_pods({KEYCLOAK_CLIENT_LABEL: "true"})],
            "ports": _ports(keycloak.http_port),
        },
        {"from": [_pods(kc)], "ports": _ports(JGROUPS_PORT, JGROUPS_FD_PORT)},
    ]
    if settings.monitoring.enabled:
        ingress.append(
            {
                "from": [_namespace(settings.monitoring.namespace)],
                "ports": _ports(keycloak.management_port),
            }
        )
    specs["keycloak-ingress"] = {
        "podSelector": {"matchLabels": kc},
        "policyTypes": ["Ingress"],
        "ingress": ingress,
    }
    specs["acme-http01-solver-ingress"] = {
        "podSelector": {"matchLabels": ACME_SOLVER_LABELS},
        "policyTypes": ["Ingress"],
        "ingress": [{"from": proxies, "ports": _ports(ACME_SOLVER_PORT)}],
    }
    egress: list[dict[str, Any]] = [
        {"to": [_pods(kc)], "ports": _ports(JGROUPS_PORT, JGROUPS_FD_PORT)},
    ]
    if db.pod_selector is not None:
        egress.append({"to": [_pods(db.pod_selector)], "ports": _ports(db.port)})
    else:
        external = city.config.spec.database.external
        assert external is not None
        egress.append(
            {"to": _cidrs([str(c) for c in external.egress_cidrs]), "ports": _ports(db.port)}
        )
    connector = city.config.spec.connector
    if city.config.ldap is not None and connector is not None:
        egress.append({"to": _cidrs([f"{connector.hub_service_address}/32"]), "ports": _ports(636)})
    if has_brokers(city):
        egress.append({"to": _cidrs(public, public_except), "ports": _ports(443)})
    specs["keycloak-egress"] = {
        "podSelector": {"matchLabels": kc},
        "policyTypes": ["Egress"],
        "egress": egress,
    }
    if db.pod_selector is not None:
        pg = db.pod_selector
        pg_ingress: list[dict[str, Any]] = [
            {"from": [_pods(kc)], "ports": _ports(db.port)},
            {"from": [_pods(pg)], "ports": _ports(db.port, CNPG_STATUS_PORT)},
            {
                "from": [_namespace(cluster.cnpg_operator_namespace)],
                "ports": _ports(db.port, CNPG_STATUS_PORT),
            },
        ]
        if settings.monitoring.enabled:
            pg_ingress.append(
                {
                    "from": [_namespace(settings.monitoring.namespace)],
                    "ports": _ports(CNPG_METRICS_PORT),
                }
            )
        store = settings.backup.object_store
        backup_to = (
            _cidrs([str(c) for c in store.egress_cidrs])
            if store.egress_cidrs
            else _cidrs(public, public_except)
        )
        specs["postgres-ingress"] = {
            "podSelector": {"matchLabels": pg},
            "policyTypes": ["Ingress"],
            "ingress": pg_ingress,
        }
        specs["postgres-egress"] = {
            "podSelector": {"matchLabels": pg},
            "policyTypes": ["Egress"],
            "egress": [
                {"to": [_pods(pg)], "ports": _ports(db.port, CNPG_STATUS_PORT)},
                {
                    "to": _cidrs([str(c) for c in cluster.api_server_cidrs]),
                    "ports": _ports(443, 6443),
                },
                {"to": backup_to, "ports": _ports(443)},
            ],
        }
    return specs


class NetworkPolicies(pulumi.ComponentResource):
    """Default deny ingress and egress for every pod of the namespace, then one policy
    per allowed flow group (see the module docstring)."""

    def __init__(
        self,
        name: str,
        city: CityContext,
        keycloak: KeycloakEndpoints,
        db: DatabaseConnection,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ociam:network:NetworkPolicies", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        names = []
        for policy, spec in policies(city, keycloak, db).items():
            kube(
                k8s.networking.v1.NetworkPolicy,
                child_name(name, policy),
                metadata=city.metadata(policy, "ociam", "network-policy"),
                spec=spec,
                opts=child,
            )
            names.append(policy)
        self.register_outputs({"policies": names})
