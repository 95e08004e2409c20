"""Scaffold a new city: its catalog file and its inventory group, checked before written."""

from __future__ import annotations

import contextlib
import ipaddress
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from ociam.catalog.errors import CatalogError, Problem
from ociam.catalog.loader import (
    DEFAULTS_FILE,
    INVENTORY_FILE,
    EnvironmentCatalog,
    environment_dir,
    load_environment,
)
from ociam.catalog.yaml_source import parse_yaml
from ociam.fileio import ConcurrentChange, edit_tree

#: first host number handed out in the hub networks (below: hub, spare)
FIRST_CITY_HOST = 10


@dataclass(frozen=True)
class NewCity:
    slug: str
    name_fi: str
    domain: str
    municipality_code: str
    admin_cidrs: list[str]
    name_sv: str | None = None
    onprem_cidrs: list[str] = field(default_factory=list)
    connector_host: str | None = None
    ad_domain: str | None = None


@dataclass(frozen=True)
class Scaffold:
    """What new-city would write: path to full text, for every file it touches."""

    city_file: Path
    inventory_file: Path
    files: dict[Path, str]
    tunnel_address: ipaddress.IPv4Address
    hub_service_address: ipaddress.IPv4Address
    #: hosts.yml as it was read: writing refuses if it changed since
    inventory_before: str


def next_free_address(
    network: ipaddress.IPv4Network, taken: Iterable[ipaddress.IPv4Address]
) -> ipaddress.IPv4Address:
    used = set(taken)
    for offset, address in enumerate(network.hosts(), start=1):
        if offset >= FIRST_CITY_HOST and address not in used:
            return address
    raise CatalogError([Problem(Path(DEFAULTS_FILE), "hub", f"no free address left in {network}")])


def _dn(domain: str) -> str:
    return ",".join(f"DC={part}" for part in domain.split("."))


def _yaml_scalar(value: str) -> str:
    return (
        yaml.safe_dump(value, default_style=None, allow_unicode=True)
        .removesuffix("\n...\n")
        .strip()
    )


def city_file_text(city: NewCity, env: str, tunnel: str, service: str) -> str:
    ad_domain = city.ad_domain or f"ad.{city.domain}"
    languages = "[fi, sv]" if city.name_sv else "[fi]"
    names = f"    fi: {_yaml_scalar(city.name_fi)}\n"
    if city.name_sv:
        names += f"    sv: {_yaml_scalar(city.name_sv)}\n"
    onprem = city.onprem_cidrs or city.admin_cidrs
    allowlist = "".join(f"  - {cidr}\n" for cidr in city.admin_cidrs)
    ssh_sources = "".join(f"    - {cidr}\n" for cidr in onprem)
    title = f"{city.name_fi} / {city.name_sv}" if city.name_sv else city.name_fi
    return f"""---
# yaml-language-server: $schema=../../../schemas/city.schema.json
# {title} in {env}: scaffolded by `ociam new-city`.
# Single source of truth for the IAM stack {env}-{city.slug} (Pulumi) and the
# connector hosts of inventory group {city.slug} (Ansible).
# Check with: ociam validate --env {env} --city {city.slug}
city:
  slug: {city.slug}
  names:
{names}  municipality_code: "{city.municipality_code}"
  official_languages: {languages}
  domain: {city.domain}

# Who may reach the admin console (admin hostname).
admin_allowlist:
{allowlist}
realms:
  employees:
    ldap_federation: true
    mfa: otp
  residents:
    suomifi:
      request_personal_identity_code: false

# The city's Active Directory, reached over LDAPS through the connector.
ldap:
  tls_server_name: {ad_domain}
  domain_controllers:
    - host: dc1.{ad_domain}
    - host: dc2.{ad_domain}
  users_dn: "OU=Users,{_dn(ad_domain)}"
  groups_dn: "OU=Groups,{_dn(ad_domain)}"
  bind_dn: "CN=svc-keycloak,OU=Service Accounts,{_dn(ad_domain)}"
  # set with: pulumi config set --secret ldapBindPassword (stack {env}-{city.slug})
  bind_password: {{pulumi_secret: ldapBindPassword}}

# OIDC and SAML clients, exact redirect URIs. Example:
#   - protocol: openid-connect
#     client_id: intranet
#     realm: employees
#     access_type: confidential
#     redirect_uris: ["https://intra.{city.domain}/oauth2/callback"]
#     client_secret: {{pulumi_secret: intranetClientSecret}}
applications: []

# Addresses allocated from the hub networks of {env} (next free).
connector:
  tunnel_address: {tunnel}
  hub_service_address: {service}
  ssh_allowed_sources:
{ssh_sources}"""


def inventory_with_city(text: str, path: Path, slug: str, host: str | None) -> str:
    """``text`` of hosts.yml with a group for ``slug`` appended under ``cities``."""
    children: yaml.Node | None = yaml.compose(text)
    for key in ("all", "children", "cities", "children"):
        if not isinstance(children, yaml.MappingNode):
            break
        children = next((v for k, v in children.value if k.value == key), None)
    if not isinstance(children, yaml.MappingNode) or children.flow_style or not children.value:
        raise CatalogError(
            [
                Problem(
                    path,
                    "all.children.cities.children",
                    "cannot find a block-style 'cities: children:' mapping to "
                    "add the group to; add it by hand",
                )
            ]
        )
    indent = " " * children.value[0][0].start_mark.column
    group = f"{indent}{slug}:\n"
    if host:
        group += f"{indent}  hosts:\n{indent}    {host}:\n"
    else:
        group += f"{indent}  hosts: {{}}  # add this city's connector host(s) here\n"
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    end_line = children.end_mark.line
    # end_mark points past trailing blank lines and comments of the last group
    while end_line > 0 and not lines[end_line - 1].strip():
        end_line -= 1
    return "".join([*lines[:end_line], group, *lines[end_line:]])


def plan_new_city(root: Path, env: str, city: NewCity) -> Scaffold:
    """Everything new-city will write, validated as a whole environment in memory.

    Raises CatalogError (nothing written) when the current catalog is broken, the
    city exists, or the result would not validate.
    """
    directory = environment_dir(root, env)
    city_path = directory / "group_vars" / f"{city.slug}.yml"
    inventory_path = directory / INVENTORY_FILE
    try:
        exists = city_path.exists()
    except OSError:
        exists = False  # load_environment below says which directory cannot be read
    if exists:
        raise CatalogError([Problem(city_path, "", "already exists; new-city never overwrites")])
    catalog: EnvironmentCatalog = load_environment(root, env)
    if city.slug in catalog.inventory.city_hosts:
        raise CatalogError(
            [
                Problem(
                    inventory_path,
                    f"all.children.cities.children.{city.slug}",
                    "group already exists; new-city never overwrites",
                    catalog.inventory.city_line(city.slug),
                )
            ]
        )
    hub = catalog.settings.hub
    tunnel = next_free_address(
        hub.tunnel_network,
        [
            hub.tunnel_address,
            *(c.spec.connector.tunnel_address for c in catalog.cities.values() if c.spec.connector),
        ],
    )
    service = next_free_address(
        hub.service_network,
        [c.spec.connector.hub_service_address for c in catalog.cities.values() if c.spec.connector],
    )
    city_text = city_file_text(city, env, str(tunnel), str(service))
    inventory_before = inventory_path.read_text(encoding="utf-8")
    inventory_text = inventory_with_city(
        inventory_before, inventory_path, city.slug, city.connector_host
    )
    overrides = {
        city_path: parse_yaml(city_text, city_path),
        inventory_path: parse_yaml(inventory_text, inventory_path),
    }
    load_environment(root, env, overrides=overrides)
    return Scaffold(
        city_file=city_path,
        inventory_file=inventory_path,
        files={city_path: city_text, inventory_path: inventory_text},
        tunnel_address=tunnel,
        hub_service_address=service,
        inventory_before=inventory_before,
    )


def write_scaffold(plan: Scaffold, environment: Path) -> None:
    """Write the city file and the changed hosts.yml as one change of ``environment``.

    The environment directory is copied, changed and swapped in atomically
    (ociam.fileio.edit_tree): killed at any moment, the environment is the old
    one or the new one. Refuses (ConcurrentChange) when hosts.yml changed since
    the plan read it or the city file appeared meanwhile."""

    def change(staged: Path) -> None:
        inventory = staged / plan.inventory_file.relative_to(environment)
        city = staged / plan.city_file.relative_to(environment)
        if inventory.read_text(encoding="utf-8") != plan.inventory_before or city.exists():
            raise ConcurrentChange(f"{environment} changed since new-city read it; nothing written")
        mode = inventory.stat().st_mode & 0o777
        try:
            for target, text in plan.files.items():
                path = staged / target.relative_to(environment)
                path.write_text(text, encoding="utf-8", newline="\n")
                path.chmod(mode if path == inventory else 0o644)
        except OSError as exc:
            raise _in_environment(exc, staged, environment) from exc

    edit_tree(environment, change)


def _in_environment(exc: OSError, staged: Path, environment: Path) -> OSError:
    """The error of writing the staged copy, naming the real file; the copy is made
    writable so that it can be removed (a read-only environment is copied read-only)."""
    for directory in [staged, *staged.rglob("*")]:
        if directory.is_dir() and not directory.is_symlink():
            with contextlib.suppress(OSError):
                directory.chmod(directory.stat().st_mode | stat.S_IRWXU)
    name = Path(exc.filename) if exc.filename else None
    real = environment / name.relative_to(staged) if name and name.is_relative_to(staged) else None
    return OSError(exc.errno, exc.strerror, str(real or environment))
