"""A city as every consumer sees it: environment defaults merged with the city file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ociam.catalog.city import CityFile, Hostnames, LdapFederation
from ociam.catalog.environment import CITY_OVERRIDABLE, EnvironmentSettings, EnvName
from ociam.catalog.secrets import iter_secret_refs


def merge_like_ansible(env_vars: dict[str, Any], city_vars: dict[str, Any]) -> dict[str, Any]:
    """Ansible's default ``hash_behaviour=replace``: a child group's top-level key wins whole."""
    return {**env_vars, **city_vars}


def effective_settings(settings: EnvironmentSettings, city: CityFile) -> EnvironmentSettings:
    overrides = {
        key: getattr(city, key) for key in CITY_OVERRIDABLE if getattr(city, key) is not None
    }
    return settings.model_copy(update=overrides) if overrides else settings


def derive_hostnames(settings: EnvironmentSettings, city: CityFile) -> Hostnames:
    """The city's hostnames: its own, or the environment pattern filled in.

    Raises pydantic's ValidationError when the pattern yields an invalid name.
    """
    if city.hostnames is not None:
        return city.hostnames
    values = {"slug": city.city.slug, "domain": city.city.domain}
    pattern = settings.hostname_pattern
    return Hostnames(public=pattern.public.format(**values), admin=pattern.admin.format(**values))


@dataclass(frozen=True)
class CityConfig:
    """One city in one environment, resolved. Built only by the catalog loader."""

    env: EnvName
    settings: EnvironmentSettings
    spec: CityFile
    source: Path
    inventory_hosts: tuple[str, ...]
    hostnames: Hostnames

    @property
    def slug(self) -> str:
        return self.spec.city.slug

    @property
    def stack_name(self) -> str:
        return f"{self.env}-{self.slug}"

    @property
    def namespace(self) -> str:
        return f"iam-{self.slug}"

    @property
    def size_profile(self) -> str:
        return self.settings.size_profile

    @property
    def ldap(self) -> LdapFederation | None:
        employees = self.spec.realms.employees
        if employees is None or not employees.ldap_federation:
            return None
        return self.spec.ldap

    @property
    def ldap_url(self) -> str | None:
        """Keycloak's LDAP connection URL: the DCs' certificate name, resolved to the hub."""
        if self.ldap is None:
            return None
        return f"ldaps://{self.ldap.tls_server_name}:636"

    @property
    def hub_allowed_sources(self) -> list[str]:
        """Cluster sources the hub lets reach this city's hub address."""
        connector = self.spec.connector
        if connector is not None and connector.allowed_sources is not None:
            return [str(net) for net in connector.allowed_sources]
        return [str(net) for net in self.settings.cluster.egress_cidrs]

    @property
    def secret_keys(self) -> dict[str, str]:
        """Pulumi secret config keys this city's stack reads (``ociam:<key>``), each with
        the first catalog field that refers to it; sorted by key."""
        keys: dict[str, str] = {}
        for model in (self.settings, self.spec):
            for path, ref in iter_secret_refs(model):
                keys.setdefault(ref.pulumi_secret, path)
        return dict(sorted(keys.items()))

    def resolved(self) -> dict[str, Any]:
        """The merged variables as plain data (secret references stay references)."""
        data = self.settings.model_dump(mode="json")
        data.update(
            self.spec.model_dump(mode="json", exclude_none=True, exclude=set(CITY_OVERRIDABLE))
        )
        data["hostnames"] = self.hostnames.model_dump(mode="json")
        data["derived"] = {
            "stack": self.stack_name,
            "namespace": self.namespace,
            "ldap_url": self.ldap_url,
            "hub_allowed_sources": self.hub_allowed_sources,
            "inventory_hosts": list(self.inventory_hosts),
        }
        return data
