"""Keycloak 26 as a StatefulSet, its Services and PodDisruptionBudget.

The optimized build: ``kc.sh build`` re-augments the Quarkus application in
``/opt/keycloak/lib/quarkus``, which must start from the image's own copy (it
reads ``quarkus-application.dat`` there). So a first init container of the
upstream image copies that directory into an emptyDir, the second runs
``kc.sh build`` with the emptyDir mounted at ``/opt/keycloak/lib/quarkus``, and
the server container mounts it read-only and runs ``start --optimized``. The
root filesystem stays read-only in all three.
Build-time options (database vendor, health, metrics) therefore live here, next
to the runtime options, and show up in every render (see docs/stack.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ociam.components.base import (
    CityContext,
    child_name,
    container_security_context,
    kube,
    pod_security_context,
)
from ociam.components.database import DatabaseConnection
from ociam.components.secrets import BOOTSTRAP_SECRET
from ociam.profiles import JAVA_OPTS_KC_HEAP

NAME = "keycloak"
APP = "keycloak"
COMPONENT = "server"
HTTP_PORT = 8080
MANAGEMENT_PORT = 9000
#: jdbc-ping cache stack: JGroups TCP and failure detection
JGROUPS_PORT = 7800
JGROUPS_FD_PORT = 57800
#: the Service the gateway routes to, and the headless one for pod identity and metrics
HTTP_SERVICE = "keycloak"
MANAGEMENT_SERVICE = "keycloak-management"
LDAP_CA_CONFIGMAP = "ldap-ca"
TRUSTSTORE_DIR = "/opt/keycloak/conf/truststores"
#: build-time options fixed by `kc.sh build` (runtime `start --optimized` must not change them)
BUILD_OPTIONS = (
    "--db=postgres",
    "--health-enabled=true",
    "--metrics-enabled=true",
    "--event-metrics-user-enabled=true",
    # deprecated and unused (no stored broker tokens, no Twitter): off, so they cannot be
    # switched on by a realm setting and the server starts without deprecation warnings
    "--features-disabled=identity-brokering-api,twitter-broker",
)
#: the cache settings of the server (KC_CACHE, KC_CACHE_STACK below), as options
CACHE_OPTIONS = ("--cache=ispn", "--cache-stack=jdbc-ping")
#: set by `ociam up`/`preview` for a Keycloak version change that Keycloak's
#: update-compatibility check does not allow to roll (ociam.upgrades.plan)
ROLLOUT_ENV = "OCIAM_KEYCLOAK_ROLLOUT"
QUARKUS_DIR = "/opt/keycloak/lib/quarkus"
#: where the seed init container sees the emptyDir it fills from the image's QUARKUS_DIR
QUARKUS_SEED_MOUNT = "/mnt/quarkus"


@dataclass(frozen=True)
class KeycloakEndpoints:
    """What other components (gateway, network policies, monitoring, config Job) use."""

    http_service: str
    http_port: int
    management_service: str
    management_port: int
    selector: dict[str, str]
    bootstrap_secret: str


def server_options() -> tuple[str, ...]:
    """The options the server runs with, for ``kc.sh update-compatibility``."""
    return (*BUILD_OPTIONS, *CACHE_OPTIONS)


def update_strategy() -> dict[str, Any]:
    """RollingUpdate, unless this run rolls out a Keycloak version change that may not
    roll (``OCIAM_KEYCLOAK_ROLLOUT=recreate``): then OnDelete, and `ociam up` deletes
    every old pod at once so that no two versions run side by side (docs/engines.md)."""
    if os.environ.get(ROLLOUT_ENV) == "recreate":
        return {"type": "OnDelete"}
    return {"type": "RollingUpdate"}


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def keycloak_env(city: CityContext, db: DatabaseConnection) -> list[dict[str, Any]]:
    """The server's environment: hostname v2, proxy, database, cache, bootstrap admin."""
    settings = city.config.settings
    hostnames = city.config.hostnames
    env: list[dict[str, Any]] = [
        {"name": "KC_HOSTNAME", "value": f"https://{hostnames.public}"},
        {"name": "KC_HOSTNAME_ADMIN", "value": f"https://{hostnames.admin}"},
        {"name": "KC_HTTP_ENABLED", "value": "true"},
        {"name": "KC_HTTP_PORT", "value": str(HTTP_PORT)},
        {"name": "KC_HTTP_MANAGEMENT_PORT", "value": str(MANAGEMENT_PORT)},
        {"name": "KC_PROXY_HEADERS", "value": "xforwarded"},
        {
            "name": "KC_PROXY_TRUSTED_ADDRESSES",
            "value": ",".join(str(c) for c in settings.gateway.source_cidrs),
        },
        {"name": "KC_DB_URL_HOST", "value": db.host},
        {"name": "KC_DB_URL_PORT", "value": str(db.port)},
        {"name": "KC_DB_URL_DATABASE", "value": db.database},
        {"name": "KC_DB_URL_PROPERTIES", "value": db.url_properties},
        _secret_env("KC_DB_USERNAME", db.credentials_secret, "username"),
        _secret_env("KC_DB_PASSWORD", db.credentials_secret, "password"),
        {"name": "KC_CACHE", "value": "ispn"},
        {"name": "KC_CACHE_STACK", "value": "jdbc-ping"},
        _secret_env("KC_BOOTSTRAP_ADMIN_USERNAME", BOOTSTRAP_SECRET, "username"),
        _secret_env("KC_BOOTSTRAP_ADMIN_PASSWORD", BOOTSTRAP_SECRET, "password"),
        _secret_env("KC_BOOTSTRAP_ADMIN_CLIENT_ID", BOOTSTRAP_SECRET, "client-id"),
        _secret_env("KC_BOOTSTRAP_ADMIN_CLIENT_SECRET", BOOTSTRAP_SECRET, "client-secret"),
        {"name": "KC_LOG_CONSOLE_OUTPUT", "value": "json"},
        {"name": "KC_SHUTDOWN_DELAY", "value": "5s"},
        {"name": "KC_SHUTDOWN_TIMEOUT", "value": "30s"},
        {"name": "JAVA_OPTS_KC_HEAP", "value": JAVA_OPTS_KC_HEAP},
    ]
    if _ldap_ca(city) is not None:
        env.append({"name": "KC_TRUSTSTORE_PATHS", "value": f"{TRUSTSTORE_DIR}/ldap-ca.pem"})
    return env


def _ldap_ca(city: CityContext) -> str | None:
    ldap = city.config.ldap
    return None if ldap is None else ldap.ca_certificate


def _probe(path: str, period: int, failures: int) -> dict[str, Any]:
    return {
        "httpGet": {"path": path, "port": "management", "scheme": "HTTP"},
        "periodSeconds": period,
        "timeoutSeconds": 2,
        "failureThreshold": failures,
    }


def pod_spec(city: CityContext, db: DatabaseConnection, service_account: str) -> dict[str, Any]:
    image = city.config.settings.images.keycloak.reference
    size = city.profile
    selector = city.selector(APP, COMPONENT)
    writable = [
        {"name": "quarkus", "mountPath": QUARKUS_DIR},
        {"name": "data", "mountPath": "/opt/keycloak/data"},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    volumes: list[dict[str, Any]] = [
        {"name": "quarkus", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "data", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "256Mi"}},
    ]
    server_mounts = [
        {**writable[0], "readOnly": True},
        *writable[1:],
    ]
    if db.ca_secret is not None:
        volumes.append(
            {
                "name": "db-ca",
                "secret": {
                    "secretName": db.ca_secret,
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    "defaultMode": 0o444,
                },
            }
        )
        server_mounts.append(
            {"name": "db-ca", "mountPath": "/opt/keycloak/db-ca", "readOnly": True}
        )
    if _ldap_ca(city) is not None:
        volumes.append(
            {"name": "ldap-ca", "configMap": {"name": LDAP_CA_CONFIGMAP, "defaultMode": 0o444}}
        )
        server_mounts.append({"name": "ldap-ca", "mountPath": TRUSTSTORE_DIR, "readOnly": True})
    spec: dict[str, Any] = {
        "serviceAccountName": service_account,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 60,
        "securityContext": pod_security_context(),
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector},
            },
            {
                "maxSkew": 1,
                "topologyKey": "kubernetes.io/hostname",
                "whenUnsatisfiable": "DoNotSchedule",
                "labelSelector": {"matchLabels": selector},
            },
        ],
        "initContainers": [
            {
                # kc.sh build needs the image's pre-built application in lib/quarkus,
                # which the emptyDir would otherwise hide: copy it in first
                "name": "kc-seed",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "command": ["cp", "-R", f"{QUARKUS_DIR}/.", f"{QUARKUS_SEED_MOUNT}/"],
                "securityContext": container_security_context(),
                "resources": size.keycloak_seed.as_k8s(),
                "volumeMounts": [{"name": "quarkus", "mountPath": QUARKUS_SEED_MOUNT}],
            },
            {
                "name": "kc-build",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "args": ["build", *BUILD_OPTIONS],
                "securityContext": container_security_context(),
                "resources": size.keycloak_build.as_k8s(),
                "volumeMounts": writable,
            },
        ],
        "containers": [
            {
                "name": "keycloak",
                "image": image,
                "imagePullPolicy": "IfNotPresent",
                "args": ["start", "--optimized"],
                "env": keycloak_env(city, db),
                "ports": [
                    {"name": "http", "containerPort": HTTP_PORT, "protocol": "TCP"},
                    {"name": "management", "containerPort": MANAGEMENT_PORT, "protocol": "TCP"},
                    {"name": "jgroups", "containerPort": JGROUPS_PORT, "protocol": "TCP"},
                    {"name": "jgroups-fd", "containerPort": JGROUPS_FD_PORT, "protocol": "TCP"},
                ],
                "startupProbe": _probe("/health/started", period=5, failures=60),
                "readinessProbe": _probe("/health/ready", period=10, failures=3),
                "livenessProbe": _probe("/health/live", period=10, failures=3),
                "lifecycle": {"preStop": {"sleep": {"seconds": 10}}},
                "securityContext": container_security_context(),
                "resources": size.keycloak.as_k8s(),
                "volumeMounts": server_mounts,
            }
        ],
        "volumes": volumes,
    }
    ldap = city.config.ldap
    connector = city.config.spec.connector
    if ldap is not None and connector is not None:
        # the DCs' certificate name resolves to this city's hub address inside the pod,
        # so LDAPS verifies the domain controllers' certificate end to end
        spec["hostAliases"] = [
            {"ip": str(connector.hub_service_address), "hostnames": [ldap.tls_server_name]}
        ]
    return spec


class Keycloak(pulumi.ComponentResource):
    """Keycloak StatefulSet (optimized build, ``start --optimized``), an HTTP Service
    for the gateway, a headless management Service, and a PodDisruptionBudget."""

    endpoints: KeycloakEndpoints

    def __init__(
        self,
        name: str,
        city: CityContext,
        db: DatabaseConnection,
        service_account: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ociam:keycloak:Keycloak", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        version = city.config.settings.images.keycloak.tag
        selector = city.selector(APP, COMPONENT)
        depends: list[pulumi.Resource] = []

        ca = _ldap_ca(city)
        if ca is not None:
            depends.append(
                kube(
                    k8s.core.v1.ConfigMap,
                    child_name(name, "ldap-ca"),
                    metadata=city.metadata(LDAP_CA_CONFIGMAP, APP, COMPONENT),
                    data={"ldap-ca.pem": ca},
                    opts=child,
                )
            )
        management = kube(
            k8s.core.v1.Service,
            child_name(name, "management"),
            metadata=city.metadata(MANAGEMENT_SERVICE, APP, COMPONENT, version=version),
            spec={
                "clusterIP": "None",
                "selector": selector,
                "ports": [
                    {
                        "name": "management",
                        "port": MANAGEMENT_PORT,
                        "targetPort": "management",
                        "protocol": "TCP",
                    }
                ],
            },
            opts=child,
        )
        kube(
            k8s.core.v1.Service,
            child_name(name, "http"),
            metadata=city.metadata(HTTP_SERVICE, APP, COMPONENT, version=version),
            spec={
                "type": "ClusterIP",
                "selector": selector,
                "ports": [
                    {"name": "http", "port": HTTP_PORT, "targetPort": "http", "protocol": "TCP"}
                ],
            },
            opts=child,
        )
        kube(
            k8s.apps.v1.StatefulSet,
            child_name(name, "statefulset"),
            metadata=city.metadata(NAME, APP, COMPONENT, version=version),
            spec={
                "replicas": city.profile.keycloak_replicas,
                "serviceName": MANAGEMENT_SERVICE,
                "podManagementPolicy": "Parallel",
                "updateStrategy": update_strategy(),
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": city.labels(APP, COMPONENT, version)},
                    "spec": pod_spec(city, db, service_account),
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[management, *depends]),
        )
        kube(
            k8s.policy.v1.PodDisruptionBudget,
            child_name(name, "pdb"),
            metadata=city.metadata(NAME, APP, COMPONENT, version=version),
            spec={"maxUnavailable": 1, "selector": {"matchLabels": selector}},
            opts=child,
        )
        self.endpoints = KeycloakEndpoints(
            http_service=HTTP_SERVICE,
            http_port=HTTP_PORT,
            management_service=MANAGEMENT_SERVICE,
            management_port=MANAGEMENT_PORT,
            selector=selector,
            bootstrap_secret=BOOTSTRAP_SECRET,
        )
        self.register_outputs(
            {
                "http_service": HTTP_SERVICE,
                "http_port": HTTP_PORT,
                "management_service": MANAGEMENT_SERVICE,
                "management_port": MANAGEMENT_PORT,
                "selector": selector,
                "bootstrap_secret": BOOTSTRAP_SECRET,
            }
        )
