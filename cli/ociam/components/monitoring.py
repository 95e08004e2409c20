"""Prometheus Operator objects: what to scrape and when to alert."""

from __future__ import annotations

from typing import Any

import pulumi

from ociam.components.base import CityContext, child_name, custom_resource
from ociam.components.database import CLUSTER_NAME, CNPG_CLUSTER_LABEL
from ociam.components.keycloak import KeycloakEndpoints

#: how old the newest base backup may get before alerting (daily schedule + slack)
BACKUP_MAX_AGE_HOURS = 26
#: failed logins per second (5-minute rate) that count as a spike
LOGIN_FAILURE_RATE = 1


def alert_rules(city: CityContext) -> list[dict[str, Any]]:
    ns = city.namespace
    labels = {"severity": "critical", "ociam_city": city.config.slug, "ociam_env": city.config.env}
    warning = {**labels, "severity": "warning"}
    rules: list[dict[str, Any]] = [
        {
            "alert": "KeycloakDown",
            "expr": f'sum(up{{namespace="{ns}", service="keycloak-management"}}) == 0 '
            f'or absent(up{{namespace="{ns}", service="keycloak-management"}})',
            "for": "5m",
            "labels": labels,
            "annotations": {
                "summary": f"Keycloak of {city.config.slug} ({city.config.env}) is down",
                "description": "No Keycloak pod answers its management port.",
            },
        },
        {
            "alert": "KeycloakLoginFailureSpike",
            "expr": f'sum(rate(keycloak_user_events_total{{namespace="{ns}", '
            f'event="login", error!=""}}[5m])) > {LOGIN_FAILURE_RATE}',
            "for": "10m",
            "labels": warning,
            "annotations": {
                "summary": f"Failed logins spike in {city.config.slug} ({city.config.env})",
                "description": "More than one failed login per second for 10 minutes: "
                "brute force or a broken client.",
            },
        },
    ]
    if city.config.spec.database.mode == "cloudnativepg":
        rules += [
            {
                "alert": "PostgreSQLDown",
                "expr": f'sum(cnpg_collector_up{{namespace="{ns}", '
                f'cluster="{CLUSTER_NAME}"}}) == 0 '
                f'or absent(cnpg_collector_up{{namespace="{ns}", cluster="{CLUSTER_NAME}"}})',
                "for": "5m",
                "labels": labels,
                "annotations": {
                    "summary": f"PostgreSQL of {city.config.slug} ({city.config.env}) is down",
                    "description": "No CloudNativePG instance reports up.",
                },
            },
            {
                "alert": "PostgreSQLBackupTooOld",
                "expr": f"time() - max(barman_cloud_cloudnative_pg_io_last_available_backup_"
                f'timestamp{{namespace="{ns}"}}) > {BACKUP_MAX_AGE_HOURS * 3600}',
                "for": "30m",
                "labels": labels,
                "annotations": {
                    "summary": f"No recent backup for {city.config.slug} ({city.config.env})",
                    "description": f"The newest base backup is older than "
                    f"{BACKUP_MAX_AGE_HOURS} hours.",
                },
            },
        ]
    return rules


class Monitoring(pulumi.ComponentResource):
    """ServiceMonitor (Keycloak), PodMonitor (PostgreSQL) and PrometheusRule."""

    def __init__(
        self,
        name: str,
        city: CityContext,
        keycloak: KeycloakEndpoints,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ociam:monitoring:Monitoring", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        extra = dict(city.config.settings.monitoring.service_monitor_labels)
        custom_resource(
            child_name(name, "service-monitor"),
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=city.metadata("keycloak", "keycloak", "monitoring", labels=extra),
            spec={
                "selector": {"matchLabels": keycloak.selector},
                "namespaceSelector": {"matchNames": [city.namespace]},
                "endpoints": [{"port": "management", "path": "/metrics", "interval": "30s"}],
            },
            opts=child,
        )
        if city.config.spec.database.mode == "cloudnativepg":
            custom_resource(
                child_name(name, "pod-monitor"),
                api_version="monitoring.coreos.com/v1",
                kind="PodMonitor",
                metadata=city.metadata("keycloak-db", "postgresql", "monitoring", labels=extra),
                spec={
                    "selector": {"matchLabels": {CNPG_CLUSTER_LABEL: CLUSTER_NAME}},
                    "namespaceSelector": {"matchNames": [city.namespace]},
                    "podMetricsEndpoints": [{"port": "metrics", "interval": "30s"}],
                },
                opts=child,
            )
        custom_resource(
            child_name(name, "rules"),
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=city.metadata("keycloak", "ociam", "monitoring", labels=extra),
            spec={"groups": [{"name": f"ociam-{city.instance}", "rules": alert_rules(city)}]},
            opts=child,
        )
        self.register_outputs({})
