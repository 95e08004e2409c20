"""The city file: the model of ``inventories/<env>/group_vars/<city>.yml``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from ociam.catalog.environment import (
    BackupSettings,
    Images,
    MonitoringSettings,
    OwnerHandle,
    SizeProfileName,
    StrictModel,
    unique_owners,
)
from ociam.catalog.secrets import SecretRef
from ociam.catalog.types import (
    MAX_ITEMS,
    DistinguishedName,
    Hostname,
    IPv4Addr,
    IPv4Net,
    Port,
    Slug,
    Uuid,
    WireGuardKey,
)

RealmName = Literal["employees", "residents"]
Language = Literal["fi", "sv", "en"]


class CityNames(StrictModel):
    fi: str = Field(min_length=1, description="Official Finnish name")
    sv: str | None = Field(default=None, description="Official Swedish name (bilingual cities)")


class CityIdentity(StrictModel):
    slug: Slug = Field(description="ASCII id: file name, inventory group, namespace iam-<slug>")
    names: CityNames
    municipality_code: str = Field(
        pattern=r"^\d{3}$", description="Kuntanumero, three digits, quoted (e.g. '609')"
    )
    official_languages: list[Literal["fi", "sv"]] = Field(min_length=1, max_length=2)
    domain: Hostname = Field(description="The city's own DNS domain, e.g. pori.fi")

    @model_validator(mode="after")
    def _names_match_languages(self) -> CityIdentity:
        if len(set(self.official_languages)) != len(self.official_languages):
            raise ValueError("official_languages lists a language twice")
        if "sv" in self.official_languages and not self.names.sv:
            raise ValueError("names.sv is required when Swedish is an official language")
        if "fi" in self.official_languages and not self.names.fi:
            raise ValueError("names.fi is required when Finnish is an official language")
        return self


class Hostnames(StrictModel):
    public: Hostname = Field(description="Where users log in (realms only)")
    admin: Hostname = Field(description="Admin console and admin API; allowlisted")

    @model_validator(mode="after")
    def _distinct(self) -> Hostnames:
        if self.public == self.admin:
            raise ValueError("public and admin hostnames must differ")
        return self


class DomainController(StrictModel):
    host: Hostname
    address: IPv4Addr | None = Field(
        default=None, description="Fixed address; otherwise the connector resolves host"
    )
    port: Port = 636


class LdapSync(StrictModel):
    full_sync_period_seconds: int = Field(default=86400, ge=-1)
    changed_sync_period_seconds: int = Field(default=900, ge=-1)


class LdapFederation(StrictModel):
    """The city's Active Directory, reached over LDAPS through the connector hub."""

    tls_server_name: Hostname = Field(
        description="Name on the domain controllers' certificates; inside the cluster it "
        "resolves to the city's hub address, so LDAPS verifies end to end"
    )
    domain_controllers: list[DomainController] = Field(max_length=MAX_ITEMS, min_length=2)
    users_dn: DistinguishedName
    groups_dn: DistinguishedName | None = None
    bind_dn: DistinguishedName
    bind_password: SecretRef
    user_filter: str | None = Field(default=None, pattern=r"^\(.*\)$")
    group_membership: Literal["nested", "member_of"] = Field(
        default="nested",
        description="How a user's groups are read: 'nested' asks AD for every group the user "
        "is in, directly or through other groups (LDAP_MATCHING_RULE_IN_CHAIN, AD only); "
        "'member_of' reads the user's memberOf attribute (direct memberships only on AD, "
        "one lookup less; also works with directories without AD's matching rule)",
    )
    ca_certificate: str | None = Field(
        default=None,
        pattern=r"^-----BEGIN CERTIFICATE-----\n[A-Za-z0-9+/=\n]+-----END CERTIFICATE-----\n?$",
        description="PEM of the CA that issued the domain controllers' certificates (public "
        "data); Keycloak trusts it for LDAPS. Without it only publicly trusted CAs verify",
    )
    sync: LdapSync = LdapSync()


class EntraIdBroker(StrictModel):
    tenant_id: Uuid
    client_id: Uuid
    client_secret: SecretRef
    display_name: str = "Microsoft Entra ID"


class RealmLifetimes(StrictModel):
    """Token and session lifetimes of one realm (Keycloak's own defaults are longer)."""

    access_token_minutes: int = Field(default=5, ge=1, le=60)
    sso_session_idle_minutes: int = Field(ge=5, le=24 * 60)
    sso_session_max_hours: int = Field(ge=1, le=7 * 24)
    offline_session_max_days: int = Field(default=30, ge=1, le=365)
    events_retention_days: int = Field(
        default=30, ge=1, le=400, description="Login and admin events are deleted after this"
    )

    @model_validator(mode="after")
    def _idle_within_max(self) -> RealmLifetimes:
        if self.sso_session_idle_minutes > self.sso_session_max_hours * 60:
            raise ValueError("sso_session_idle_minutes exceeds sso_session_max_hours")
        return self


def _employee_lifetimes() -> RealmLifetimes:
    return RealmLifetimes(sso_session_idle_minutes=30, sso_session_max_hours=10)


def _resident_lifetimes() -> RealmLifetimes:
    return RealmLifetimes(sso_session_idle_minutes=15, sso_session_max_hours=2)


class EmployeesRealm(StrictModel):
    ldap_federation: bool = Field(default=True, description="Federate users from `ldap`")
    entra_id: EntraIdBroker | None = None
    mfa: Literal["otp", "webauthn"] = "otp"
    reset_password: bool = False
    display_name: str | None = Field(
        default=None, min_length=1, description="Shown on the login page; default from city name"
    )
    lifetimes: RealmLifetimes = Field(default_factory=_employee_lifetimes)


class KeyPairRef(StrictModel):
    """A PEM private key and its certificate, both held in Pulumi secret config."""

    private_key: SecretRef
    certificate: SecretRef


class SuomiFiBroker(StrictModel):
    request_personal_identity_code: bool = Field(
        default=False,
        description="Map henkilötunnus (urn:oid:1.2.246.21); sensitive, only when needed",
    )
    separate_encryption_key: bool = Field(
        default=False,
        description="Suomi.fi allows one certificate in SP metadata; keep false unless agreed",
    )
    signing_key: KeyPairRef | None = Field(
        default=None,
        description="SP key pair registered in Suomi.fi Palveluhallinta; also decrypts "
        "assertions unless separate_encryption_key. Without it the realm's generated keys "
        "are used (acceptable for the test preset only)",
    )
    encryption_key: KeyPairRef | None = Field(
        default=None, description="Only with separate_encryption_key: true"
    )

    @model_validator(mode="after")
    def _keys_match_mode(self) -> SuomiFiBroker:
        if self.separate_encryption_key and (
            self.signing_key is None or self.encryption_key is None
        ):
            raise ValueError("separate_encryption_key needs both signing_key and encryption_key")
        if not self.separate_encryption_key and self.encryption_key is not None:
            raise ValueError("encryption_key is only used with separate_encryption_key: true")
        return self


class ResidentsRealm(StrictModel):
    suomifi: SuomiFiBroker = SuomiFiBroker()
    reset_password: bool = False
    display_name: str | None = Field(
        default=None, min_length=1, description="Shown on the login page; default from city name"
    )
    lifetimes: RealmLifetimes = Field(default_factory=_resident_lifetimes)


class Realms(StrictModel):
    employees: EmployeesRealm | None = None
    residents: ResidentsRealm | None = None

    def enabled(self) -> list[RealmName]:
        names: list[RealmName] = []
        if self.employees is not None:
            names.append("employees")
        if self.residents is not None:
            names.append("residents")
        return names


ClientId = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[^\s*]+$")]


def _check_uri(value: str) -> str:
    if not (value.startswith(("https://", "http://localhost", "http://127.0.0.1"))):
        raise ValueError(f"'{value}' must be https:// (http only for localhost)")
    if any(c.isspace() for c in value):
        raise ValueError(f"'{value}' contains whitespace")
    return value


class OidcApplication(StrictModel):
    protocol: Literal["openid-connect"]
    client_id: ClientId
    realm: RealmName
    name: str | None = None
    access_type: Literal["public", "confidential"]
    redirect_uris: list[str] = Field(max_length=MAX_ITEMS, min_length=1)
    post_logout_redirect_uris: list[str] = Field(
        max_length=MAX_ITEMS,
        default_factory=list,
        description="Where the app may send users after logout; empty: its redirect_uris "
        "(Keycloak's '+')",
    )
    web_origins: list[str] = Field(max_length=MAX_ITEMS, default_factory=list)
    client_secret: SecretRef | None = None
    default_scopes: list[str] = Field(max_length=MAX_ITEMS, default_factory=list)
    roles: list[str] = Field(
        max_length=MAX_ITEMS, default_factory=list, description="Client roles to create"
    )
    groups_claim: bool = Field(
        default=False,
        description="Put the user's group names (from AD in the employees realm) in the "
        "'groups' claim of the ID token, access token and userinfo",
    )

    @field_validator("redirect_uris", "post_logout_redirect_uris")
    @classmethod
    def _uris(cls, values: list[str]) -> list[str]:
        return [_check_uri(v) for v in values]

    @model_validator(mode="after")
    def _secret_matches_type(self) -> OidcApplication:
        if self.access_type == "confidential" and self.client_secret is None:
            raise ValueError("confidential clients need client_secret: {pulumi_secret: KEY}")
        if self.access_type == "public" and self.client_secret is not None:
            raise ValueError("public clients have no client_secret")
        return self


class SamlApplication(StrictModel):
    protocol: Literal["saml"]
    client_id: ClientId = Field(description="The service provider's entity ID")
    realm: RealmName
    name: str | None = None
    redirect_uris: list[str] = Field(
        max_length=MAX_ITEMS, min_length=1, description="Assertion consumer service URLs"
    )
    sign_assertions: bool = True
    name_id_format: Literal["persistent", "transient", "email", "username"] = "persistent"

    @field_validator("redirect_uris")
    @classmethod
    def _uris(cls, values: list[str]) -> list[str]:
        return [_check_uri(v) for v in values]


Application = Annotated[OidcApplication | SamlApplication, Field(discriminator="protocol")]


class ExternalDatabase(StrictModel):
    host: Hostname
    port: Port = 5432
    database: str = Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    username: str = Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")
    password: SecretRef
    sslmode: Literal["verify-full", "verify-ca", "require"] = "verify-full"
    egress_cidrs: list[IPv4Net] = Field(
        max_length=MAX_ITEMS,
        min_length=1,
        description="Addresses of the database server(s), for NetworkPolicy",
    )


class Database(StrictModel):
    mode: Literal["cloudnativepg", "external"] = "cloudnativepg"
    storage_size: str = Field(default="10Gi", pattern=r"^[1-9][0-9]*(Mi|Gi|Ti)$")
    external: ExternalDatabase | None = None

    @model_validator(mode="after")
    def _external_iff_mode(self) -> Database:
        if self.mode == "external" and self.external is None:
            raise ValueError("mode 'external' needs the external: block")
        if self.mode == "cloudnativepg" and self.external is not None:
            raise ValueError("external: is only allowed with mode 'external'")
        return self


class Connector(StrictModel):
    """This city's end of the WireGuard hub-and-spoke connector path."""

    tunnel_address: IPv4Addr = Field(
        description="The connector's WireGuard address (in hub.tunnel_network)"
    )
    hub_service_address: IPv4Addr = Field(
        description="Address on the hub reserved for this city (in hub.service_network); "
        "Keycloak's LDAP URL points here"
    )
    ssh_allowed_sources: list[IPv4Net] = Field(max_length=MAX_ITEMS, min_length=1)
    allowed_sources: list[IPv4Net] | None = Field(
        max_length=MAX_ITEMS,
        default=None,
        description="Cluster sources allowed to reach this city's hub address; "
        "default: cluster.egress_cidrs of the environment",
    )
    wireguard_public_key: WireGuardKey | None = Field(
        default=None,
        description="The connector's WireGuard public key (public data; the connector "
        "generates its key pair and playbooks/connector.yml prints the public key). The hub "
        "adds this city's tunnel peer only once it is known; the connector playbook fails "
        "if the host's key differs",
    )
    persistent_keepalive: int = Field(
        default=25,
        ge=1,
        le=3600,
        description="Seconds between the connector's WireGuard keepalives to the hub: keeps "
        "NAT and firewall state on the city's side open for the hub's traffic",
    )


class CityFile(StrictModel):
    """Everything ``group_vars/<city>.yml`` may set."""

    city: CityIdentity
    hostnames: Hostnames | None = Field(
        default=None, description="Override the environment's hostname_pattern"
    )
    admin_allowlist: list[IPv4Net] = Field(
        max_length=MAX_ITEMS, min_length=1, description="CIDRs allowed to reach the admin hostname"
    )
    realms: Realms
    ldap: LdapFederation | None = None
    applications: list[Application] = Field(max_length=MAX_ITEMS, default_factory=list)
    database: Database = Database()
    connector: Connector | None = None
    owners: list[OwnerHandle] | None = Field(
        max_length=MAX_ITEMS,
        default=None,
        description="The city's IAM admins (code-host team or user handles): a pull request "
        "that changes this file needs one of them to approve (.github/CODEOWNERS, generated "
        "by `ociam codeowners`); default: the environment's owners (the platform team)",
        min_length=1,
    )
    cost_weight: float | None = Field(
        default=None,
        gt=0,
        description="The city's share under the by-weight split rule of `ociam report` "
        "(for example population in thousands)",
    )
    # environment defaults a city may replace (whole value, as Ansible does)
    size_profile: SizeProfileName | None = None
    monitoring: MonitoringSettings | None = None
    backup: BackupSettings | None = None
    images: Images | None = None

    @field_validator("owners")
    @classmethod
    def _owners_unique(cls, value: list[str] | None) -> list[str] | None:
        return unique_owners(value)
