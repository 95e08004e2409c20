"""Build every realm file of a city from its catalog entry."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ociam.catalog.city import EmployeesRealm, OidcApplication, ResidentsRealm, SamlApplication
from ociam.catalog.resolved import CityConfig
from ociam.realms import config_client, employees, residents
from ociam.realms.clients import application_fields
from ociam.realms.placeholders import CONFIG_CLIENT_SECRET_ENV, SecretBinding, placeholders_in
from ociam.realms.security import base_realm

JsonObject = dict[str, Any]


class RealmBuildError(ValueError):
    """The catalog entry cannot become a realm (the catalog checks normally catch it first)."""


@dataclass(frozen=True)
class RealmFile:
    """One file keycloak-config-cli imports: its name, content and the secrets it needs."""

    filename: str
    realm: str
    document: JsonObject
    secrets: tuple[SecretBinding, ...] = ()

    @property
    def text(self) -> str:
        """Canonical JSON: stable key order and formatting, so hashes and diffs are stable."""
        return json.dumps(self.document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"

    @property
    def env_names(self) -> frozenset[str]:
        """The ``$(env:...)`` names the file really contains."""
        return frozenset(placeholders_in(self.text))


@dataclass(frozen=True)
class CityRealms:
    """What the config Jobs of one city import."""

    city: str
    env: str
    realms: tuple[RealmFile, ...]
    bootstrap: tuple[RealmFile, ...]

    @property
    def secrets(self) -> tuple[SecretBinding, ...]:
        """Catalog secrets the apply Job needs, each once, in a stable order."""
        return tuple(sorted({s for f in self.realms for s in f.secrets}))

    @property
    def realm_names(self) -> tuple[str, ...]:
        return tuple(f.realm for f in self.realms)


def _display_name(city: CityConfig, given: str | None, suffix: str) -> str:
    return given or f"{city.spec.city.names.fi}: {suffix}"


def _apps(city: CityConfig, realm: str) -> list[OidcApplication | SamlApplication]:
    return [app for app in city.spec.applications if app.realm == realm]


def _realm_file(
    name: str, realm: JsonObject, city: CityConfig, secrets: list[SecretBinding]
) -> RealmFile:
    """Add the realm's applications, then wrap it as the file the apply Job imports."""
    fields, needed = application_fields(_apps(city, name), allow_wildcards=city.env != "prod")
    realm.update(fields)
    return RealmFile(f"realm-{name}.json", name, realm, tuple(sorted(set(secrets + needed))))


def build_employees(city: CityConfig, spec: EmployeesRealm) -> RealmFile:
    ldap = city.ldap
    if spec.ldap_federation and (ldap is None or city.ldap_url is None):
        raise RealmBuildError(f"{city.slug}: LDAP federation is on but the city has no ldap:")
    secrets: list[SecretBinding] = []
    realm = base_realm(
        employees.REALM,
        _display_name(city, spec.display_name, "henkilöstö"),
        spec.lifetimes,
        reset_password=spec.reset_password,
        local_passwords=ldap is None and spec.entra_id is None,
    )
    realm |= employees.mfa_policy(city)
    realm["requiredActions"] = employees.required_actions(spec)
    realm |= employees.employee_flows(spec, with_ldap=ldap is not None).realm_fields()
    realm["browserFlow"] = employees.BROWSER_FLOW
    if ldap is not None and city.ldap_url is not None:
        bind = SecretBinding.of(ldap.bind_password)
        secrets.append(bind)
        realm["components"] = {
            employees.USER_STORAGE_TYPE: [employees.ldap_component(city.ldap_url, ldap, bind)]
        }
    if spec.entra_id is not None:
        secret = SecretBinding.of(spec.entra_id.client_secret)
        secrets.append(secret)
        realm["identityProviders"] = [
            employees.entra_provider(spec.entra_id, secret, with_ldap=ldap is not None)
        ]
        if ldap is None:
            realm["identityProviderMappers"] = employees.entra_mappers()
    return _realm_file(employees.REALM, realm, city, secrets)


#: the realm attribute keycloak-config-cli reads before it applies `userProfile`
USER_PROFILE_ENABLED = "userProfileEnabled"


def build_residents(city: CityConfig, spec: ResidentsRealm) -> RealmFile:
    settings = city.settings.suomifi
    secrets: list[SecretBinding] = []
    realm = base_realm(
        residents.REALM,
        _display_name(city, spec.display_name, "asiointi"),
        spec.lifetimes,
        reset_password=spec.reset_password,
        local_passwords=False,
    )
    # usernames are random and nobody has a password: e-mail is no login name here
    realm["loginWithEmailAllowed"] = False
    realm["identityProviders"] = [residents.suomifi_provider(settings, city.hostnames.public)]
    realm["identityProviderMappers"] = residents.suomifi_mappers(settings, spec)
    realm |= residents.resident_flows().realm_fields()
    realm["browserFlow"] = residents.BROWSER_FLOW
    realm["userProfile"] = residents.user_profile(spec)
    # keycloak-config-cli applies `userProfile` only when this realm attribute is set
    # (UserProfileImportService.doImport); without it the key is silently skipped
    realm["attributes"] = {**realm.get("attributes", {}), USER_PROFILE_ENABLED: "true"}
    keys, key_secrets = residents.sp_key_components(spec)
    if keys:
        realm["components"] = {residents.KEY_PROVIDER_TYPE: keys}
        secrets.extend(key_secrets)
    return _realm_file(residents.REALM, realm, city, secrets)


def build_realms(city: CityConfig) -> CityRealms:
    """Every enabled realm of the city, and the bootstrap files of the config client."""
    files: list[RealmFile] = []
    spec = city.spec.realms
    if spec.employees is not None:
        files.append(build_employees(city, spec.employees))
    if spec.residents is not None:
        files.append(build_residents(city, spec.residents))
    names = [f.realm for f in files]
    bootstrap = [
        RealmFile(f"{index:02d}-shell-{name}.json", name, config_client.realm_shell(name))
        for index, name in enumerate(names)
    ]
    bootstrap.append(
        RealmFile(
            "90-master-config-client.json",
            config_client.MASTER,
            config_client.master_config_client(names),
            (SecretBinding(env=CONFIG_CLIENT_SECRET_ENV, config_key=""),),
        )
    )
    return CityRealms(city=city.slug, env=city.env, realms=tuple(files), bootstrap=tuple(bootstrap))
