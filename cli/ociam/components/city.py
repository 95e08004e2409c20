"""The city stack, composed in one place: every component of one city, in order.

To add a component (for example the realm configuration Job), construct it in
``City.__init__`` with ``parent=self`` and pass it what it needs from the
components built before it (``self.keycloak.endpoints``, ``self.secrets.names``).
"""

from __future__ import annotations

from collections.abc import Mapping

import pulumi

from ociam.catalog import CityConfig
from ociam.components.base import KEYCLOAK_CLIENT_LABEL, CityContext
from ociam.components.database import Database
from ociam.components.exposure import Exposure
from ociam.components.keycloak import Keycloak
from ociam.components.monitoring import Monitoring
from ociam.components.namespace import CityNamespace
from ociam.components.network import NetworkPolicies
from ociam.components.realm_config import BootstrapCredentials, KeycloakEndpoint, RealmConfig
from ociam.components.secrets import CitySecrets


class City(pulumi.ComponentResource):
    """One city's IAM stack in namespace ``iam-<city>``."""

    def __init__(
        self,
        name: str,
        config: CityConfig,
        config_secrets: Mapping[str, pulumi.Output[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ociam:city:City", name, None, opts)
        self.context = city = CityContext(config)
        self.namespace = CityNamespace("namespace", city, pulumi.ResourceOptions(parent=self))
        # everything below lives in the namespace: create it first
        inside = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        self.secrets = CitySecrets("secrets", city, config_secrets, inside)
        self.database = Database(
            "database", city, inside, external_secret=self.secrets.names.external_db
        )
        self.keycloak = Keycloak(
            "keycloak",
            city,
            self.database.connection,
            self.namespace.service_account,
            pulumi.ResourceOptions(parent=self, depends_on=[self.namespace, self.secrets]),
        )
        self.exposure = Exposure("exposure", city, self.keycloak.endpoints, inside)
        self.network = NetworkPolicies(
            "network", city, self.keycloak.endpoints, self.database.connection, inside
        )
        if config.settings.monitoring.enabled:
            self.monitoring: Monitoring | None = Monitoring(
                "monitoring", city, self.keycloak.endpoints, inside
            )
        else:
            self.monitoring = None
        endpoints = self.keycloak.endpoints
        self.realm_config = RealmConfig(
            "realm-config",
            city=config,
            namespace=city.namespace,
            keycloak=KeycloakEndpoint(
                service=endpoints.http_service,
                port=endpoints.http_port,
                target_port=endpoints.http_port,
                pod_labels=endpoints.selector,
            ),
            bootstrap=BootstrapCredentials(secret_name=endpoints.bootstrap_secret),
            labels=city.labels("keycloak-config-cli", "realm-config"),
            pod_labels={KEYCLOAK_CLIENT_LABEL: "true"},
            secret_values=config_secrets,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.keycloak, self.network]),
        )
        self.register_outputs(
            {
                "namespace": city.namespace,
                "public_url": f"https://{config.hostnames.public}",
                "admin_url": f"https://{config.hostnames.admin}",
                "keycloak_service": endpoints.http_service,
                "keycloak_port": endpoints.http_port,
                "bootstrap_secret": endpoints.bootstrap_secret,
            }
        )
