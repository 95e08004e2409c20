"""The platform stack, composed in one place: the shared services of one environment.

Per environment (stack ``<env>`` of project ``ociam-platform``):

* ``ociam:platform:Namespaces``: the namespaces below, Pod Security labelled;
* ``ociam:platform:CertManager``: cert-manager (Helm) with Gateway API support, and
  the environment's ``ClusterIssuer`` (ACME HTTP-01 through the shared Gateway);
* ``ociam:platform:Postgres``: the CloudNativePG operator and the Barman Cloud
  plugin (Helm) in the operator's namespace;
* ``ociam:platform:Gateway``: the Gateway API CRDs and Envoy Gateway (Helm), the
  ``GatewayClass`` and the shared ``Gateway`` the city stacks attach to;
* ``ociam:platform:Monitoring``: only when the environment's monitoring is on: the
  charts' ServiceMonitor/PodMonitor switches, a PodMonitor for the Envoy proxies and
  a PrometheusRule for certificates.

Everything comes from ``inventories/<env>/group_vars/all.yml`` (gateway, tls,
monitoring, cluster) and ``stacks/platform/platform.yml`` (chart pins, ACME).
Helm releases are ``kubernetes:helm.sh/v3:Release`` resources: the offline engine
renders their chart, version and values, not the charts' own objects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from ociam.catalog import EnvironmentCatalog, load_environment
from ociam.components.base import CITY_LABEL, ENV_LABEL, MANAGED_BY, PART_OF, custom_resource
from ociam.components.platform_config import ChartPin, PlatformEnvironment, load_platform_file

GATEWAY_GROUP = "gateway.networking.k8s.io"
GATEWAY_CLASS = "envoy-gateway"
ENVOY_CONTROLLER = "gateway.envoyproxy.io/gatewayclass-controller"
CERT_MANAGER_NAMESPACE = "cert-manager"
ACME_ACCOUNT_SECRET = "acme-account-key"
HTTP_LISTENER = "http"
CERT_LABELS = "{{ $labels.namespace }}/{{ $labels.name }}"
HELM_TIMEOUT_SECONDS = 600
#: namespaces whose workloads are not ours to assert: Pod Security restricted is
#: audited and warned there, baseline enforced (Envoy proxies are created at run time
#: by Envoy Gateway from its defaults, which this repository cannot check offline)
BASELINE_NAMESPACES = frozenset({"envoy-gateway-system"})
#: city namespaces carry this label (set by the city stack)
CITY_NAMESPACE_SELECTOR = {"matchExpressions": [{"key": CITY_LABEL, "operator": "Exists"}]}


@dataclass(frozen=True)
class PlatformContext:
    """One environment's catalog plus the platform file's pins and settings."""

    catalog: EnvironmentCatalog
    charts: Any
    settings_extra: PlatformEnvironment

    @property
    def env(self) -> str:
        return self.catalog.name

    @property
    def settings(self) -> Any:
        return self.catalog.settings

    @property
    def protected(self) -> bool:
        """Outside dev, what owns CRDs is protected: deleting it would delete every
        custom resource of its kinds, the cities' databases included."""
        return self.env != "dev"

    @property
    def installs_charts(self) -> bool:
        """Whether the stack installs the pinned Helm charts (else the cluster has them)."""
        return bool(self.settings_extra.charts == "install")

    @property
    def replicas(self) -> int:
        return 1 if self.settings.size_profile == "dev" else 2

    def labels(self, app: str, component: str) -> dict[str, str]:
        return dict(
            sorted(
                {
                    "app.kubernetes.io/name": app,
                    "app.kubernetes.io/instance": f"platform-{self.env}",
                    "app.kubernetes.io/component": component,
                    "app.kubernetes.io/part-of": PART_OF,
                    "app.kubernetes.io/managed-by": MANAGED_BY,
                    ENV_LABEL: self.env,
                }.items()
            )
        )

    def metadata(
        self, name: str, app: str, component: str, namespace: str | None = None
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {"name": name, "labels": self.labels(app, component)}
        if namespace is not None:
            meta["namespace"] = namespace
        return meta

    @property
    def monitoring_labels(self) -> dict[str, str]:
        return dict(self.settings.monitoring.service_monitor_labels)


def after(parent: pulumi.Resource, *resources: pulumi.Resource | None) -> pulumi.ResourceOptions:
    """Child options of ``parent`` that wait for those of ``resources`` the stack has."""
    return pulumi.ResourceOptions(parent=parent, depends_on=[r for r in resources if r is not None])


def release(
    name: str,
    pin: ChartPin,
    namespace: str,
    values: dict[str, Any],
    opts: pulumi.ResourceOptions,
    *,
    skip_crds: bool = False,
) -> k8s.helm.v3.Release:
    """A Helm release at the pinned version, atomic (a failed upgrade rolls back)."""
    repository = (
        k8s.helm.v3.RepositoryOptsArgs(repo=pin.repository) if pin.repository is not None else None
    )
    return k8s.helm.v3.Release(
        name,
        k8s.helm.v3.ReleaseArgs(
            name=name,
            chart=pin.chart,
            version=pin.version,
            repository_opts=repository,
            namespace=namespace,
            create_namespace=False,
            values=values,
            skip_crds=skip_crds,
            atomic=True,
            cleanup_on_fail=True,
            max_history=10,
            timeout=HELM_TIMEOUT_SECONDS,
        ),
        opts=opts,
    )


class Namespaces(pulumi.ComponentResource):
    """The platform's namespaces, Pod Security labelled at the cluster's minor version."""

    def __init__(self, name: str, ctx: PlatformContext, opts: pulumi.ResourceOptions) -> None:
        super().__init__("ociam:platform:Namespaces", name, None, opts)
        settings = ctx.settings
        minor = "v" + ".".join(settings.kubernetes_version.split(".")[:2])
        wanted = {
            CERT_MANAGER_NAMESPACE: "cert-manager",
            settings.cluster.cnpg_operator_namespace: "cloudnative-pg",
            settings.gateway.namespace: "gateway",
            settings.gateway.proxy_namespace: "envoy-gateway",
        }
        self.names = sorted(wanted)
        self.resources: list[pulumi.Resource] = []
        for namespace, app in sorted(wanted.items()):
            enforce = "baseline" if namespace in BASELINE_NAMESPACES else "restricted"
            labels = {
                **ctx.labels(app, "namespace"),
                "pod-security.kubernetes.io/enforce": enforce,
                "pod-security.kubernetes.io/enforce-version": minor,
                "pod-security.kubernetes.io/audit": "restricted",
                "pod-security.kubernetes.io/audit-version": minor,
                "pod-security.kubernetes.io/warn": "restricted",
                "pod-security.kubernetes.io/warn-version": minor,
            }
            self.resources.append(
                k8s.core.v1.Namespace(
                    f"{name}-{namespace}",
                    metadata={"name": namespace, "labels": dict(sorted(labels.items()))},
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        self.register_outputs({"namespaces": self.names})


class CertManager(pulumi.ComponentResource):
    """cert-manager with its CRDs (kept on uninstall) and Gateway API support, and the
    environment's ClusterIssuer solving HTTP-01 through the shared Gateway."""

    def __init__(self, name: str, ctx: PlatformContext, opts: pulumi.ResourceOptions) -> None:
        super().__init__("ociam:platform:CertManager", name, None, opts)
        values: dict[str, Any] = {
            "crds": {"enabled": True, "keep": True},
            "replicaCount": ctx.replicas,
            "podDisruptionBudget": {"enabled": ctx.replicas > 1},
            "config": {
                "apiVersion": "controller.config.cert-manager.io/v1alpha1",
                "kind": "ControllerConfiguration",
                "enableGatewayAPI": True,
            },
        }
        if ctx.settings.monitoring.enabled:
            values["prometheus"] = {
                "enabled": True,
                "servicemonitor": {"enabled": True, "labels": ctx.monitoring_labels},
            }
        self.release: pulumi.Resource | None = None
        if ctx.installs_charts:
            self.release = release(
                name,
                ctx.charts.cert_manager,
                CERT_MANAGER_NAMESPACE,
                values,
                pulumi.ResourceOptions(parent=self, protect=ctx.protected),
            )
        tls = ctx.settings.tls
        self.issuer: pulumi.Resource | None = None
        if tls.issuer_kind == "ClusterIssuer":
            gateway = ctx.settings.gateway
            acme = ctx.settings_extra.acme
            self.issuer = custom_resource(
                f"{name}-issuer",
                api_version="cert-manager.io/v1",
                kind="ClusterIssuer",
                metadata=ctx.metadata(tls.issuer_name, "cert-manager", "issuer"),
                spec={
                    "acme": {
                        "server": acme.server,
                        "email": acme.email,
                        "privateKeySecretRef": {"name": f"{tls.issuer_name}-{ACME_ACCOUNT_SECRET}"},
                        "solvers": [
                            {
                                "http01": {
                                    "gatewayHTTPRoute": {
                                        "parentRefs": [
                                            {
                                                "group": GATEWAY_GROUP,
                                                "kind": "Gateway",
                                                "name": gateway.name,
                                                "namespace": gateway.namespace,
                                                "sectionName": HTTP_LISTENER,
                                            }
                                        ]
                                    }
                                }
                            }
                        ],
                    }
                },
                opts=after(self, self.release),
            )
        self.register_outputs({"issuer": tls.issuer_name if self.issuer else None})


class Postgres(pulumi.ComponentResource):
    """The CloudNativePG operator (cluster-wide) and the Barman Cloud plugin beside it
    (CNPG-I plugins are found through Services in the operator's namespace; the plugin
    gets its certificates from cert-manager)."""

    def __init__(
        self,
        name: str,
        ctx: PlatformContext,
        cert_manager: CertManager,
        opts: pulumi.ResourceOptions,
    ) -> None:
        super().__init__("ociam:platform:Postgres", name, None, opts)
        namespace = ctx.settings.cluster.cnpg_operator_namespace
        values: dict[str, Any] = {
            "replicaCount": ctx.replicas,
            "crds": {"create": True},
            "config": {"clusterWide": True},
        }
        if ctx.settings.monitoring.enabled:
            values["monitoring"] = {
                "podMonitorEnabled": True,
                "podMonitorAdditionalLabels": ctx.monitoring_labels,
            }
        if ctx.installs_charts:
            operator = release(
                f"{name}-operator",
                ctx.charts.cloudnative_pg,
                namespace,
                values,
                pulumi.ResourceOptions(parent=self, protect=ctx.protected),
            )
            release(
                f"{name}-barman-cloud",
                ctx.charts.barman_cloud,
                namespace,
                {"replicaCount": 1},
                pulumi.ResourceOptions(
                    parent=self,
                    protect=ctx.protected,
                    depends_on=[r for r in (operator, cert_manager.release) if r is not None],
                ),
            )
        self.register_outputs({"namespace": namespace})


def _city_listeners(catalog: EnvironmentCatalog) -> list[dict[str, Any]]:
    """``gateway-listener`` mode: an HTTPS listener per city hostname, using the city's
    certificate Secret (the city stack's ReferenceGrant allows it)."""
    listeners = []
    for slug, city in sorted(catalog.cities.items()):
        for role, hostname in (("public", city.hostnames.public), ("admin", city.hostnames.admin)):
            listeners.append(
                {
                    "name": f"{slug}-{role}",
                    "hostname": hostname,
                    "port": 443,
                    "protocol": "HTTPS",
                    "tls": {
                        "mode": "Terminate",
                        "certificateRefs": [
                            {
                                "group": "",
                                "kind": "Secret",
                                "name": "keycloak-tls",
                                "namespace": city.namespace,
                            }
                        ],
                    },
                    "allowedRoutes": {
                        "namespaces": {
                            "from": "Selector",
                            "selector": {
                                "matchLabels": {"kubernetes.io/metadata.name": city.namespace}
                            },
                        },
                        "kinds": [{"group": GATEWAY_GROUP, "kind": "HTTPRoute"}],
                    },
                }
            )
    return listeners


class Gateway(pulumi.ComponentResource):
    """Gateway API CRDs (standard channel) and Envoy Gateway, the GatewayClass and the
    shared Gateway: an HTTP listener for ACME challenges from city namespaces, and the
    cities' HTTPS listeners (ListenerSets from city namespaces, or one listener per
    city hostname in ``gateway-listener`` mode)."""

    def __init__(self, name: str, ctx: PlatformContext, opts: pulumi.ResourceOptions) -> None:
        super().__init__("ociam:platform:Gateway", name, None, opts)
        gateway = ctx.settings.gateway
        if gateway.implementation != "envoy-gateway":
            raise ValueError(
                f"the platform stack installs envoy-gateway; gateway.implementation is "
                f"{gateway.implementation}: install that implementation outside ociam"
            )
        controller: pulumi.Resource | None = None
        if ctx.installs_charts:
            crds = release(
                f"{name}-crds",
                ctx.charts.gateway_crds,
                gateway.proxy_namespace,
                {
                    "crds": {
                        "gatewayAPI": {"enabled": True, "channel": "standard"},
                        "envoyGateway": {"enabled": True},
                    }
                },
                pulumi.ResourceOptions(parent=self, protect=ctx.protected),
            )
            controller = release(
                f"{name}-envoy",
                ctx.charts.envoy_gateway,
                gateway.proxy_namespace,
                {"deployment": {"replicas": ctx.replicas}},
                pulumi.ResourceOptions(parent=self, depends_on=[crds]),
                skip_crds=True,
            )
        when_ready = after(self, controller)
        custom_resource(
            f"{name}-class",
            api_version=f"{GATEWAY_GROUP}/v1",
            kind="GatewayClass",
            metadata=ctx.metadata(GATEWAY_CLASS, "envoy-gateway", "gateway"),
            spec={
                "controllerName": ENVOY_CONTROLLER,
                "description": "Envoy Gateway of the ociam platform",
            },
            opts=when_ready,
        )
        spec: dict[str, Any] = {
            "gatewayClassName": GATEWAY_CLASS,
            "listeners": [
                {
                    "name": HTTP_LISTENER,
                    "port": 80,
                    "protocol": "HTTP",
                    "allowedRoutes": {
                        "namespaces": {"from": "Selector", "selector": CITY_NAMESPACE_SELECTOR},
                        "kinds": [{"group": GATEWAY_GROUP, "kind": "HTTPRoute"}],
                    },
                }
            ],
        }
        if gateway.listener_mode == "listenerset":
            spec["allowedListeners"] = {
                "namespaces": {"from": "Selector", "selector": CITY_NAMESPACE_SELECTOR}
            }
        else:
            spec["listeners"] += _city_listeners(ctx.catalog)
        self.gateway = custom_resource(
            f"{name}-shared",
            api_version=f"{GATEWAY_GROUP}/v1",
            kind="Gateway",
            metadata=ctx.metadata(gateway.name, "envoy-gateway", "gateway", gateway.namespace),
            spec=spec,
            opts=when_ready,
        )
        self.register_outputs({"gateway": f"{gateway.namespace}/{gateway.name}"})


class Monitoring(pulumi.ComponentResource):
    """Prometheus Operator hooks: scrape the Envoy proxies, alert on certificates."""

    def __init__(self, name: str, ctx: PlatformContext, opts: pulumi.ResourceOptions) -> None:
        super().__init__("ociam:platform:Monitoring", name, None, opts)
        settings = ctx.settings
        labels = ctx.monitoring_labels
        custom_resource(
            f"{name}-envoy-proxies",
            api_version="monitoring.coreos.com/v1",
            kind="PodMonitor",
            metadata={
                **ctx.metadata("envoy-proxies", "envoy-gateway", "monitoring"),
                "namespace": settings.gateway.proxy_namespace,
                "labels": {**ctx.labels("envoy-gateway", "monitoring"), **labels},
            },
            spec={
                "selector": {
                    "matchLabels": {
                        "app.kubernetes.io/component": "proxy",
                        "app.kubernetes.io/managed-by": "envoy-gateway",
                    }
                },
                "podMetricsEndpoints": [{"port": "metrics", "path": "/stats/prometheus"}],
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        custom_resource(
            f"{name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata={
                **ctx.metadata("ociam-platform", "ociam-platform", "monitoring"),
                "namespace": settings.monitoring.namespace,
                "labels": {**ctx.labels("ociam-platform", "monitoring"), **labels},
            },
            spec={
                "groups": [
                    {
                        "name": "ociam-platform-certificates",
                        "rules": [
                            {
                                "alert": "CertificateNotReady",
                                "expr": "max by (namespace, name) "
                                '(certmanager_certificate_ready_status{condition="False"}) == 1',
                                "for": "15m",
                                "labels": {"severity": "warning"},
                                "annotations": {
                                    "summary": f"Certificate {CERT_LABELS} is not ready"
                                },
                            },
                            {
                                "alert": "CertificateExpiresSoon",
                                "expr": "min by (namespace, name) "
                                "(certmanager_certificate_expiration_timestamp_seconds - time())"
                                " < 14 * 24 * 3600",
                                "for": "1h",
                                "labels": {"severity": "critical"},
                                "annotations": {
                                    "summary": f"Certificate {CERT_LABELS} expires within 14 days"
                                },
                            },
                        ],
                    }
                ]
            },
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({})


class Platform(pulumi.ComponentResource):
    """One environment's shared services, in dependency order."""

    def __init__(
        self, name: str, ctx: PlatformContext, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ociam:platform:Platform", name, None, opts)
        self.namespaces = Namespaces("namespaces", ctx, pulumi.ResourceOptions(parent=self))
        inside = pulumi.ResourceOptions(parent=self, depends_on=self.namespaces.resources)
        self.cert_manager = CertManager("cert-manager", ctx, inside)
        self.gateway = Gateway("gateway", ctx, inside)
        self.postgres = Postgres("cnpg", ctx, self.cert_manager, inside)
        self.monitoring = (
            Monitoring("monitoring", ctx, inside) if ctx.settings.monitoring.enabled else None
        )
        self.register_outputs({"env": ctx.env})


def load_context(root: Path, env: str) -> PlatformContext:
    platform_file = load_platform_file(root)
    if env not in platform_file.environments:
        raise ValueError(f"stacks/platform/platform.yml has no environments.{env}")
    return PlatformContext(
        catalog=load_environment(root, env),
        charts=platform_file.charts,
        settings_extra=platform_file.environments[env],
    )


def main(project_root: Path) -> Platform:
    """Build the platform stack named by ``pulumi.get_stack()`` (the environment)."""
    env = pulumi.get_stack()
    config = pulumi.Config("ociam")
    root = Path(config.get("root") or os.environ.get("OCIAM_ROOT") or project_root).resolve()
    ctx = load_context(root, env)
    platform = Platform("platform", ctx)
    settings = ctx.settings
    pulumi.export("gateway", f"{settings.gateway.namespace}/{settings.gateway.name}")
    pulumi.export("issuer", f"{settings.tls.issuer_kind}/{settings.tls.issuer_name}")
    for key in sorted(type(ctx.charts).model_fields):
        pin = getattr(ctx.charts, key)
        pulumi.export(f"chart_{key}", f"{pin.chart}@{pin.version}")
    return platform
