"""Environment defaults: the model of ``inventories/<env>/group_vars/all.yml``."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ociam.catalog.types import IPv4Addr, IPv4Net, K8sName, Port

EnvName = Literal["dev", "staging", "prod"]
ENVIRONMENTS: tuple[EnvName, ...] = ("dev", "staging", "prod")
SizeProfileName = Literal["dev", "small", "ha"]
SuomiFiPreset = Literal["test", "production"]

HOSTNAME_PLACEHOLDERS = ("slug", "domain")


class StrictModel(BaseModel):
    """Base of every catalog model: unknown keys rejected, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class HostnamePattern(StrictModel):
    """How a city's hostnames are derived when its file does not set them."""

    public: str = Field(description="Public hostname pattern; placeholders {slug} and {domain}")
    admin: str = Field(description="Admin console hostname pattern; placeholders {slug}, {domain}")

    @field_validator("public", "admin")
    @classmethod
    def _known_placeholders(cls, value: str) -> str:
        for name in re.findall(r"{([^}]*)}", value):
            if name not in HOSTNAME_PLACEHOLDERS:
                raise ValueError(f"unknown placeholder {{{name}}}; use {{slug}} or {{domain}}")
        return value

    @model_validator(mode="after")
    def _distinct(self) -> HostnamePattern:
        if self.public == self.admin:
            raise ValueError("public and admin patterns must differ")
        return self


class ImageRef(StrictModel):
    """A container image pinned to an exact version tag (and optionally a real digest)."""

    repository: str = Field(pattern=r"^[a-z0-9.-]+(:\d+)?(/[a-z0-9._-]+)+$")
    tag: str = Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
    digest: str | None = Field(
        default=None,
        pattern=r"^sha256:[0-9a-f]{64}$",
        description="Only a digest read from the registry; never invent one",
    )

    @field_validator("tag")
    @classmethod
    def _exact_version(cls, value: str) -> str:
        if value in {"latest", "nightly", "main", "edge"}:
            raise ValueError(f"'{value}' is a moving tag; pin an exact version")
        return value

    @property
    def reference(self) -> str:
        ref = f"{self.repository}:{self.tag}"
        return f"{ref}@{self.digest}" if self.digest else ref


class Images(StrictModel):
    keycloak: ImageRef
    keycloak_config_cli: ImageRef
    postgresql: ImageRef


class GatewayRef(StrictModel):
    """The platform's shared Gateway that city routes attach to."""

    name: K8sName
    namespace: K8sName
    implementation: Literal["envoy-gateway", "istio", "cilium", "nginx-gateway-fabric", "kgateway"]
    listener_mode: Literal["listenerset", "gateway-listener"] = Field(
        default="listenerset",
        description="listenerset: each city brings a ListenerSet for its hostnames; "
        "gateway-listener: the platform Gateway already has a listener per city hostname",
    )
    source_cidrs: list[IPv4Net] = Field(
        min_length=1,
        description="Addresses the gateway's data plane connects to Keycloak from (NetworkPolicy)",
    )


class TlsSettings(StrictModel):
    issuer_kind: Literal["ClusterIssuer", "Issuer"] = "ClusterIssuer"
    issuer_name: K8sName


class ObjectStore(StrictModel):
    """Barman Cloud object store for PostgreSQL base backups and WAL archive."""

    destination_path: str = Field(pattern=r"^(s3|gs|https?)://[^\s]+$")
    endpoint_url: str | None = Field(default=None, pattern=r"^https://[^\s]+$")
    credentials_secret: K8sName = Field(
        description="Kubernetes Secret (in each city namespace) holding "
        "ACCESS_KEY_ID and ACCESS_SECRET_KEY"
    )


class BackupSettings(StrictModel):
    object_store: ObjectStore
    retention: str = Field(default="30d", pattern=r"^[1-9][0-9]*[dwm]$")
    schedule: str = Field(
        default="0 0 2 * * *",
        description="Six-field cron (with seconds) as CloudNativePG expects",
    )

    @field_validator("schedule")
    @classmethod
    def _six_fields(cls, value: str) -> str:
        if len(value.split()) != 6:
            raise ValueError("CloudNativePG schedules have six fields (seconds first)")
        return value


class MonitoringSettings(StrictModel):
    enabled: bool = False
    service_monitor_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels the Prometheus Operator selects ServiceMonitors and rules by",
    )
    namespace: K8sName = Field(
        default="monitoring", description="Namespace the Prometheus pods run in"
    )


class PulumiSettings(StrictModel):
    backend_url: str = Field(
        default="file://~/.ociam/pulumi-state",
        pattern=r"^(file://|s3://|azblob://|gs://|https://)",
        description="State backend; OCIAM_PULUMI_BACKEND_URL overrides",
    )
    secrets_provider: str = Field(default="passphrase")


def _default_metadata_urls() -> dict[SuomiFiPreset, str]:
    """IdP metadata of Suomi.fi e-Identification (docs/suomifi.md names the sources)."""
    return {
        "test": "https://static.apro.tunnistus.fi/static/metadata/idp-metadata.xml",
        "production": "https://tunnistus.suomi.fi/static/metadata/idp-metadata.xml",
    }


class SuomiFiSettings(StrictModel):
    """Suomi.fi e-Identification metadata presets (see docs/suomifi.md)."""

    preset: SuomiFiPreset
    metadata_urls: dict[SuomiFiPreset, str] = Field(default_factory=_default_metadata_urls)


class ClusterNetwork(StrictModel):
    pod_cidrs: list[IPv4Net] = Field(min_length=1)
    service_cidrs: list[IPv4Net] = Field(min_length=1)
    egress_cidrs: list[IPv4Net] = Field(
        min_length=1,
        description="Source addresses cluster traffic has when it reaches the connector hub",
    )
    dns_namespace: K8sName = "kube-system"
    dns_pod_labels: dict[str, str] = Field(default_factory=lambda: {"k8s-app": "kube-dns"})
    cnpg_operator_namespace: K8sName = "cnpg-system"


class HubSettings(StrictModel):
    """The WireGuard hub near the cluster that terminates every city's tunnel."""

    endpoint: str = Field(
        pattern=r"^[a-z0-9.-]+:\d+$",
        description="host:port the connectors dial",
    )
    listen_port: Port = 51820
    tunnel_network: IPv4Net
    tunnel_address: IPv4Addr
    service_network: IPv4Net = Field(
        description="Network of the per-city addresses on the hub that Keycloak connects to"
    )
    ssh_allowed_sources: list[IPv4Net] = Field(min_length=1)

    @model_validator(mode="after")
    def _address_in_network(self) -> HubSettings:
        if self.tunnel_address not in self.tunnel_network:
            raise ValueError(
                f"tunnel_address {self.tunnel_address} is outside "
                f"tunnel_network {self.tunnel_network}"
            )
        if self.tunnel_network.overlaps(self.service_network):
            raise ValueError(
                f"tunnel_network {self.tunnel_network} overlaps "
                f"service_network {self.service_network}"
            )
        return self


class OnpremSettings(StrictModel):
    admin_group: str = Field(
        default="ociam-admins",
        pattern=r"^[a-z_][a-z0-9_-]{0,31}$",
        description="Unix group whose members may log in over SSH on hub and connector hosts",
    )


class EnvironmentSettings(StrictModel):
    """Everything ``group_vars/all.yml`` of one environment sets."""

    ociam_env: EnvName = Field(description="Must match the inventory folder name")
    kubernetes_version: str = Field(pattern=r"^1\.\d+\.\d+$")
    hostname_pattern: HostnamePattern
    size_profile: SizeProfileName = "small"
    images: Images
    gateway: GatewayRef
    tls: TlsSettings
    backup: BackupSettings
    monitoring: MonitoringSettings = MonitoringSettings()
    pulumi: PulumiSettings = PulumiSettings()
    suomifi: SuomiFiSettings
    cluster: ClusterNetwork
    hub: HubSettings
    onprem: OnpremSettings = OnpremSettings()


#: top-level keys of all.yml that a city file may replace (as Ansible would)
CITY_OVERRIDABLE: frozenset[str] = frozenset({"size_profile", "monitoring", "backup", "images"})
