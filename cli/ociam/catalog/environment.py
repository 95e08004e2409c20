"""Environment defaults: the model of ``inventories/<env>/group_vars/all.yml``."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from ociam.catalog.secrets import SecretRef
from ociam.catalog.types import MAX_ITEMS, IPv4Addr, IPv4Net, K8sName, Port, WireGuardKey

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
        max_length=MAX_ITEMS,
        min_length=1,
        description="Addresses the gateway's data plane connects to Keycloak from: Keycloak "
        "trusts X-Forwarded-* only from these (KC_PROXY_TRUSTED_ADDRESSES); those outside the "
        "pod network are also allowed by NetworkPolicy",
    )
    data_plane_namespace: K8sName | None = Field(
        default=None,
        description="Namespace the gateway's proxy pods run in (NetworkPolicy allows it to "
        "reach Keycloak on 8080); default: the Gateway's namespace",
    )
    admin_allowlist_policy: bool | None = Field(
        default=None,
        description="Who enforces the city's admin_allowlist on the admin hostname. true: the "
        "city stack renders the implementation's client-address policy on the admin route "
        "(envoy-gateway: a SecurityPolicy allowing only the allowlist); false: the platform "
        "gateway must enforce it (the city stack does not). Default: true on envoy-gateway, "
        "false on the other implementations",
    )

    @model_validator(mode="after")
    def _policy_supported(self) -> GatewayRef:
        if self.admin_allowlist_policy and self.implementation != "envoy-gateway":
            raise ValueError(
                "admin_allowlist_policy is implemented for envoy-gateway only; "
                f"enforce the allowlist for {self.implementation} in the platform"
            )
        return self

    @property
    def city_enforces_admin_allowlist(self) -> bool:
        """Whether the city stack renders the admin route's client-address policy."""
        if self.admin_allowlist_policy is None:
            return self.implementation == "envoy-gateway"
        return self.admin_allowlist_policy

    @property
    def proxy_namespace(self) -> str:
        return self.data_plane_namespace or self.namespace


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
    access_key_id: SecretRef | None = Field(
        default=None,
        description="When set (with secret_access_key), the city stack creates "
        "credentials_secret from these Pulumi secrets; otherwise the Secret must exist",
    )
    secret_access_key: SecretRef | None = None
    egress_cidrs: list[IPv4Net] | None = Field(
        max_length=MAX_ITEMS,
        default=None,
        description="Where PostgreSQL pods may send backups over HTTPS (NetworkPolicy); "
        "default: any public address (private, link-local and cluster ranges excluded)",
    )

    @model_validator(mode="after")
    def _both_keys_or_none(self) -> ObjectStore:
        if (self.access_key_id is None) != (self.secret_access_key is None):
            raise ValueError("set both access_key_id and secret_access_key, or neither")
        return self


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
    protect_databases: bool | None = Field(
        default=None,
        description=(
            "Protect each city's database Cluster (Pulumi protect: `ociam destroy` refuses "
            "it without --delete-protected); default: in every environment but dev"
        ),
    )


class RolloutWave(StrictModel):
    """One wave of a staged rollout: its cities, or every selected city not in an
    earlier wave (``rest: true``)."""

    name: K8sName
    cities: list[K8sName] = Field(max_length=MAX_ITEMS, default_factory=list)
    rest: bool = Field(default=False, description="Every selected city that no other wave names")

    @model_validator(mode="after")
    def _cities_or_rest(self) -> RolloutWave:
        if bool(self.cities) == self.rest:
            raise ValueError("a wave names its cities or is the rest (rest: true), not both")
        return self


class UpgradeSettings(StrictModel):
    """Safe upgrades (docs/engines.md, Upgrading): the backup gate and staged rollouts."""

    backup_max_age_hours: int = Field(
        default=24,
        ge=1,
        le=24 * 31,
        description="`ociam up` refuses to upgrade Keycloak or PostgreSQL, or to replace "
        "a database, of a city whose last completed backup is older than this",
    )
    health_timeout_seconds: int = Field(
        default=900,
        ge=10,
        le=7200,
        description="How long a staged rollout waits for a city to become healthy",
    )
    waves: list[RolloutWave] = Field(
        max_length=MAX_ITEMS,
        default_factory=list,
        description="`ociam up --waves defaults`: the environment's rollout order",
    )


def _default_metadata_urls() -> dict[SuomiFiPreset, str]:
    """IdP metadata of Suomi.fi e-Identification (docs/suomifi.md names the sources)."""
    return {
        "test": "https://static.apro.tunnistus.fi/static/metadata/idp-metadata.xml",
        "production": "https://tunnistus.suomi.fi/static/metadata/idp-metadata.xml",
    }


class SuomiFiIdpEndpoints(StrictModel):
    """Where Keycloak sends residents: the Suomi.fi IdP of one preset.

    Signing certificates are not pinned: Keycloak reloads them from the metadata
    URL (they rotate yearly). The SSO and SLO URLs are the HTTP-Redirect
    endpoints published in the IdP metadata; use the matching POST URLs if
    ``request_binding`` is ``post``.
    """

    entity_id: str = Field(pattern=r"^https://[^\s]+$", description="The IdP's SAML entity ID")
    single_sign_on_url: str = Field(pattern=r"^https://[^\s]+$")
    single_logout_url: str = Field(pattern=r"^https://[^\s]+$")


def _default_idp_endpoints() -> dict[SuomiFiPreset, SuomiFiIdpEndpoints]:
    """Entity IDs and endpoints from the public metadata (docs/realms.md names the sources)."""
    return {
        "test": SuomiFiIdpEndpoints(
            entity_id="https://testi.apro.tunnistus.fi/idp1",
            single_sign_on_url="https://testi.apro.tunnistus.fi/idp/profile/SAML2/Redirect/SSO",
            single_logout_url="https://testi.apro.tunnistus.fi/idp/profile/SAML2/Redirect/SLO",
        ),
        "production": SuomiFiIdpEndpoints(
            entity_id="https://tunnistautuminen.suomi.fi/idp1",
            single_sign_on_url="https://tunnistautuminen.suomi.fi/idp/profile/SAML2/Redirect/SSO",
            single_logout_url="https://tunnistautuminen.suomi.fi/idp/profile/SAML2/Redirect/SLO",
        ),
    }


class SuomiFiAttributeNames(StrictModel):
    """SAML attribute names (URI format) Suomi.fi releases, as Keycloak maps them."""

    given_name: str = Field(default="urn:oid:2.5.4.42", description="givenName (kutsumanimi)")
    family_name: str = Field(default="urn:oid:2.5.4.4", description="sn")
    personal_identity_code: str = Field(
        default="urn:oid:1.2.246.21", description="nationalIdentificationNumber (henkilötunnus)"
    )


class SuomiFiSettings(StrictModel):
    """Suomi.fi e-Identification metadata presets (see docs/suomifi.md)."""

    preset: SuomiFiPreset
    metadata_urls: dict[SuomiFiPreset, str] = Field(default_factory=_default_metadata_urls)
    idp_endpoints: dict[SuomiFiPreset, SuomiFiIdpEndpoints] = Field(
        default_factory=_default_idp_endpoints
    )
    attributes: SuomiFiAttributeNames = SuomiFiAttributeNames()
    request_binding: Literal["redirect", "post"] = Field(
        default="redirect",
        description="Binding of the signed AuthnRequest; responses always come by HTTP-POST",
    )

    @field_validator("metadata_urls")
    @classmethod
    def _metadata_over_https(cls, urls: dict[SuomiFiPreset, str]) -> dict[SuomiFiPreset, str]:
        # Keycloak loads Suomi.fi's signing certificates from these URLs: over plain http
        # anyone on the path could swap in their own. Plain http only to the pod's own
        # listener (a stand-in IdP realm in tests), never for the production preset.
        for preset, url in urls.items():
            parts = urlsplit(url)
            local = parts.scheme == "http" and parts.hostname in {"localhost", "127.0.0.1"}
            if parts.scheme != "https" and not (local and preset != "production"):
                raise ValueError(
                    f"metadata_urls.{preset}: '{url}' must be an https URL (Keycloak loads "
                    "Suomi.fi's signing certificates from it)"
                )
        return urls

    @model_validator(mode="after")
    def _preset_defined(self) -> SuomiFiSettings:
        for name, table in (
            ("metadata_urls", self.metadata_urls),
            ("idp_endpoints", self.idp_endpoints),
        ):
            if self.preset not in table:
                raise ValueError(f"{name} has no entry for the '{self.preset}' preset")
        return self


class ClusterNetwork(StrictModel):
    pod_cidrs: list[IPv4Net] = Field(max_length=MAX_ITEMS, min_length=1)
    service_cidrs: list[IPv4Net] = Field(max_length=MAX_ITEMS, min_length=1)
    egress_cidrs: list[IPv4Net] = Field(
        max_length=MAX_ITEMS,
        min_length=1,
        description="Source addresses cluster traffic has when it reaches the connector hub",
    )
    api_server_cidrs: list[IPv4Net] = Field(
        max_length=MAX_ITEMS,
        min_length=1,
        description="Kubernetes API server endpoint addresses; CloudNativePG instance "
        "managers reach them on 443/6443 (NetworkPolicy)",
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
    ssh_allowed_sources: list[IPv4Net] = Field(max_length=MAX_ITEMS, min_length=1)
    wireguard_public_key: WireGuardKey | None = Field(
        default=None,
        description="The hub's WireGuard public key (public data; the hub generates its key "
        "pair and playbooks/hub.yml prints the public key). Connectors configured without "
        "the hub in the same run need it; the hub playbook fails if the hub's key differs",
    )

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


OWNER_PATTERN = (
    r"^(@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9][A-Za-z0-9._-]{0,99})?"
    r"|[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})$"
)
_OWNER_RE = re.compile(OWNER_PATTERN)


def _check_owner(value: str) -> str:
    if not _OWNER_RE.match(value):
        raise ValueError(
            f"'{value}' is not a code-host handle: use @user, @org/team or an e-mail address"
        )
    return value


#: a code-host handle: ``@user``, ``@org/team`` (GitHub's CODEOWNERS syntax) or an e-mail address
OwnerHandle = Annotated[
    str,
    AfterValidator(_check_owner),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": OWNER_PATTERN,
            "description": "@user, @org/team or an e-mail address, as CODEOWNERS accepts them",
        }
    ),
]


def unique_owners(owners: list[str] | None) -> list[str] | None:
    """Refuse a handle listed twice (handles are case-insensitive on code hosts)."""
    if owners is not None and len({o.lower() for o in owners}) != len(owners):
        raise ValueError("owners lists a handle twice")
    return owners


SplitRule = Literal["equal", "by-requests", "by-weight"]


class PriceList(StrictModel):
    """Monthly list prices of the shared platform, in the currency of ``cost``."""

    vcpu_month: float = Field(ge=0, description="Per vCPU requested by long-running workloads")
    memory_gib_month: float = Field(ge=0, description="Per GiB (2^30 bytes) of memory requested")
    storage_gib_month: float = Field(
        ge=0, description="Per GiB of persistent volume storage requested (database volumes)"
    )
    platform_month: float = Field(
        ge=0,
        description="Fixed share of the environment: cluster, gateway, operators, monitoring, "
        "operations; split between the cities with the rest",
    )


class CostSettings(StrictModel):
    """How ``ociam report`` prices an environment and splits the bill between its cities."""

    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217 code")
    split: SplitRule = Field(
        default="by-requests",
        description="equal: the same for every city; by-requests: in proportion to each "
        "city's requests at list price; by-weight: in proportion to each city's cost_weight",
    )
    prices: PriceList


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
    upgrades: UpgradeSettings = UpgradeSettings()
    suomifi: SuomiFiSettings
    cluster: ClusterNetwork
    hub: HubSettings
    onprem: OnpremSettings = OnpremSettings()
    owners: list[OwnerHandle] = Field(
        max_length=MAX_ITEMS,
        default_factory=list,
        description="The platform team: owners of all.yml, hosts.yml and of every city file "
        "without owners of its own (.github/CODEOWNERS, `ociam codeowners`)",
    )
    cost: CostSettings | None = Field(
        default=None, description="Price list and split rule of `ociam report`"
    )

    @field_validator("owners")
    @classmethod
    def _owners_unique(cls, value: list[str]) -> list[str]:
        return unique_owners(value) or []


#: top-level keys of all.yml that a city file may replace (as Ansible would)
CITY_OVERRIDABLE: frozenset[str] = frozenset({"size_profile", "monitoring", "backup", "images"})
