"""Checks that span fields or files: what no single model can see."""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ociam.catalog.city import OidcApplication
from ociam.catalog.environment import EnvironmentSettings
from ociam.catalog.errors import Problem, Severity
from ociam.catalog.inventory import Inventory
from ociam.catalog.resolved import CityConfig
from ociam.catalog.validation import format_path
from ociam.catalog.yaml_source import FieldPath, YamlDocument

#: an allowlist broader than this is no allowlist
BROADEST_ALLOWLIST_PREFIX = 8


@dataclass(frozen=True)
class CityInput:
    """A city file as read: its document (for line numbers) and resolved config."""

    document: YamlDocument
    config: CityConfig


def _problem(
    city: CityInput, loc: FieldPath, reason: str, severity: Severity = Severity.ERROR
) -> Problem:
    return Problem(
        city.document.path, format_path(loc), reason, city.document.line_of(loc), severity
    )


def _where(city: CityInput, loc: FieldPath) -> str:
    line = city.document.line_of(loc)
    return f"{city.config.slug} ({city.document.path.name}{f':{line}' if line else ''})"


def check_identity(city: CityInput, inventory: Inventory) -> Iterable[Problem]:
    slug, stem = city.config.slug, city.document.path.stem
    if slug != stem:
        yield _problem(
            city, ("city", "slug"), f"'{slug}' does not match the file name '{stem}.yml'"
        )
    # an inventory that could not be read is reported once, not once per city
    if inventory.document is not None and slug not in inventory.city_hosts:
        yield _problem(
            city,
            ("city", "slug"),
            f"no inventory group '{slug}' under 'cities' in {inventory.path.name}",
        )


def check_unique(
    cities: list[CityInput],
    what: str,
    values: dict[str, list[tuple[FieldPath, str]]],
    severity: Severity = Severity.ERROR,
) -> Iterable[Problem]:
    """``values`` maps city slug to (location, value) pairs that must be unique across cities."""
    by_value: dict[str, list[tuple[CityInput, FieldPath]]] = defaultdict(list)
    for city in cities:
        for loc, value in values.get(city.config.slug, []):
            by_value[value].append((city, loc))
    for value, uses in by_value.items():
        if len(uses) < 2:
            continue
        for city, loc in uses:
            others = ", ".join(_where(o, ol) for o, ol in uses if (o, ol) != (city, loc))
            yield _problem(city, loc, f"{what} '{value}' is also used by {others}", severity)


def check_connector(city: CityInput) -> Iterable[Problem]:
    connector = city.config.spec.connector
    if connector is None:
        return
    hub = city.config.settings.hub
    tunnel = connector.tunnel_address
    if tunnel not in hub.tunnel_network:
        yield _problem(
            city,
            ("connector", "tunnel_address"),
            f"{tunnel} is outside the hub tunnel_network {hub.tunnel_network}",
        )
    elif tunnel in (hub.tunnel_network.network_address, hub.tunnel_network.broadcast_address):
        yield _problem(
            city,
            ("connector", "tunnel_address"),
            f"{tunnel} is the network or broadcast address of {hub.tunnel_network}",
        )
    elif tunnel == hub.tunnel_address:
        yield _problem(city, ("connector", "tunnel_address"), f"{tunnel} is the hub's own address")
    key = connector.wireguard_public_key
    if key is not None and key == hub.wireguard_public_key:
        yield _problem(
            city,
            ("connector", "wireguard_public_key"),
            "is the hub's own public key (hub.wireguard_public_key); each host has its own",
        )
    service = connector.hub_service_address
    if service not in hub.service_network:
        yield _problem(
            city,
            ("connector", "hub_service_address"),
            f"{service} is outside the hub service_network {hub.service_network}",
        )


def check_allowlists(city: CityInput) -> Iterable[Problem]:
    spec = city.config.spec
    lists: list[tuple[FieldPath, list[ipaddress.IPv4Network]]] = [
        (("admin_allowlist",), spec.admin_allowlist)
    ]
    if spec.connector is not None:
        lists.append((("connector", "ssh_allowed_sources"), spec.connector.ssh_allowed_sources))
        if spec.connector.allowed_sources is not None:
            lists.append((("connector", "allowed_sources"), spec.connector.allowed_sources))
    strict = city.config.env != "dev"
    for loc, networks in lists:
        for index, network in enumerate(networks):
            if network.prefixlen < BROADEST_ALLOWLIST_PREFIX:
                yield _problem(
                    city,
                    (*loc, index),
                    f"{network} is too broad for an allowlist (prefix shorter than "
                    f"/{BROADEST_ALLOWLIST_PREFIX})",
                    Severity.ERROR if strict else Severity.WARNING,
                )
            for other_index, other in enumerate(networks[:index]):
                if network.overlaps(other):
                    yield _problem(
                        city,
                        (*loc, index),
                        f"{network} overlaps entry [{other_index}] {other}; merge them",
                        Severity.WARNING,
                    )


def check_realms(city: CityInput) -> Iterable[Problem]:
    spec = city.config.spec
    employees = spec.realms.employees
    if employees is not None and employees.ldap_federation:
        if spec.ldap is None:
            yield _problem(
                city,
                ("realms", "employees", "ldap_federation"),
                "LDAP federation is on but the city has no ldap: block",
            )
        if spec.connector is None:
            yield _problem(
                city,
                ("realms", "employees", "ldap_federation"),
                "LDAP federation goes through the connector hub: add connector:",
            )
    if spec.ldap is not None:
        hosts = [dc.host for dc in spec.ldap.domain_controllers]
        for index, host in enumerate(hosts):
            if host in hosts[:index]:
                yield _problem(
                    city,
                    ("ldap", "domain_controllers", index, "host"),
                    f"domain controller '{host}' is listed twice",
                )
    enabled = set(spec.realms.enabled())
    if not enabled:
        yield _problem(city, ("realms",), "enable at least one realm (employees or residents)")
    seen: dict[tuple[str, str], int] = {}
    for index, app in enumerate(spec.applications):
        if app.realm not in enabled:
            yield _problem(
                city,
                ("applications", index, "realm"),
                f"realm '{app.realm}' is not enabled in realms:",
            )
        key = (app.realm, app.client_id)
        if key in seen:
            yield _problem(
                city,
                ("applications", index, "client_id"),
                f"client_id '{app.client_id}' is already used by applications"
                f"[{seen[key]}] in realm '{app.realm}'",
            )
        seen.setdefault(key, index)


def check_redirects(city: CityInput) -> Iterable[Problem]:
    if city.config.env != "prod":
        return
    for index, app in enumerate(city.config.spec.applications):
        fields: dict[str, list[str]] = {"redirect_uris": app.redirect_uris}
        if isinstance(app, OidcApplication):
            fields["post_logout_redirect_uris"] = app.post_logout_redirect_uris
            fields["web_origins"] = app.web_origins
        for name, uris in fields.items():
            for uri_index, uri in enumerate(uris):
                if "*" in uri:
                    yield _problem(
                        city,
                        ("applications", index, name, uri_index),
                        f"wildcard '{uri}' is not allowed in prod; list exact URIs",
                    )
                elif uri.startswith("http://"):
                    yield _problem(
                        city,
                        ("applications", index, name, uri_index),
                        f"'{uri}' is plain http; not allowed in prod",
                    )


def check_environment(
    settings_doc: YamlDocument, env_name: str, settings: EnvironmentSettings
) -> Iterable[Problem]:
    """Environment-wide rules on ``group_vars/all.yml``."""

    def problem(loc: FieldPath, reason: str, severity: Severity = Severity.ERROR) -> Problem:
        return Problem(
            settings_doc.path, format_path(loc), reason, settings_doc.line_of(loc), severity
        )

    if settings.ociam_env != env_name:
        yield problem(
            ("ociam_env",), f"'{settings.ociam_env}' does not match the folder '{env_name}'"
        )
    expected_preset = "production" if env_name == "prod" else "test"
    if settings.suomifi.preset != expected_preset:
        yield problem(
            ("suomifi", "preset"),
            f"'{settings.suomifi.preset}' in {env_name}; {env_name} must use the "
            f"'{expected_preset}' Suomi.fi metadata",
        )
    hub_networks = {
        "hub.tunnel_network": settings.hub.tunnel_network,
        "hub.service_network": settings.hub.service_network,
    }
    cluster_networks = {
        **{f"cluster.pod_cidrs[{i}]": n for i, n in enumerate(settings.cluster.pod_cidrs)},
        **{f"cluster.service_cidrs[{i}]": n for i, n in enumerate(settings.cluster.service_cidrs)},
    }
    for hub_name, hub_net in hub_networks.items():
        for cluster_name, cluster_net in cluster_networks.items():
            if hub_net.overlaps(cluster_net):
                loc = tuple(hub_name.split("."))
                yield problem(
                    loc,
                    f"{hub_net} overlaps {cluster_name} {cluster_net}; routing "
                    "to the hub would break",
                )
    if env_name == "prod":
        for name in ("keycloak", "keycloak_config_cli", "postgresql"):
            if getattr(settings.images, name).digest is None:
                yield problem(
                    ("images", name, "digest"),
                    "no digest pinned in prod; add the registry's sha256 digest "
                    "(never an invented one)",
                    Severity.WARNING,
                )


def check_inventory(inventory: Inventory, city_files: dict[str, Path]) -> Iterable[Problem]:
    for slug in sorted(set(inventory.city_hosts) - set(city_files)):
        yield Problem(
            inventory.path,
            f"all.children.cities.children.{slug}",
            f"inventory group '{slug}' has no city file group_vars/{slug}.yml",
            inventory.city_line(slug),
        )
    owner: dict[str, str] = {}
    for slug, hosts in inventory.city_hosts.items():
        for host in hosts:
            if host in inventory.hub_hosts:
                yield Problem(
                    inventory.path,
                    f"all.children.cities.children.{slug}.hosts",
                    f"host '{host}' is both a hub and a connector of '{slug}'",
                    inventory.city_line(slug),
                )
            if host in owner:
                yield Problem(
                    inventory.path,
                    f"all.children.cities.children.{slug}.hosts",
                    f"host '{host}' is already a connector of '{owner[host]}'",
                    inventory.city_line(slug),
                )
            owner.setdefault(host, slug)


def check_cities(cities: list[CityInput], inventory: Inventory) -> list[Problem]:
    problems: list[Problem] = []
    for city in cities:
        for check in (check_connector, check_allowlists, check_realms, check_redirects):
            problems.extend(check(city))
        problems.extend(check_identity(city, inventory))
    hostnames: dict[str, list[tuple[FieldPath, str]]] = {}
    codes: dict[str, list[tuple[FieldPath, str]]] = {}
    tunnels: dict[str, list[tuple[FieldPath, str]]] = {}
    services: dict[str, list[tuple[FieldPath, str]]] = {}
    wireguard_keys: dict[str, list[tuple[FieldPath, str]]] = {}
    for city in cities:
        slug, spec = city.config.slug, city.config.spec
        names = city.config.hostnames
        where = ("hostnames",) if spec.hostnames is not None else ("city", "domain")
        hostnames[slug] = [
            ((*where, "public") if spec.hostnames else where, names.public),
            ((*where, "admin") if spec.hostnames else where, names.admin),
        ]
        codes[slug] = [(("city", "municipality_code"), spec.city.municipality_code)]
        if spec.connector is not None:
            tunnels[slug] = [(("connector", "tunnel_address"), str(spec.connector.tunnel_address))]
            services[slug] = [
                (("connector", "hub_service_address"), str(spec.connector.hub_service_address))
            ]
            if spec.connector.wireguard_public_key is not None:
                wireguard_keys[slug] = [
                    (("connector", "wireguard_public_key"), spec.connector.wireguard_public_key)
                ]
    problems.extend(check_unique(cities, "hostname", hostnames))
    problems.extend(check_unique(cities, "municipality code", codes))
    problems.extend(check_unique(cities, "tunnel address", tunnels))
    problems.extend(check_unique(cities, "hub service address", services))
    problems.extend(check_unique(cities, "WireGuard public key", wireguard_keys))
    problems.extend(check_copy_paste(cities))
    # a hostname shared between one city's public and admin names is caught by the model
    return problems


def _host(uri: str) -> str:
    return (urlsplit(uri).hostname or "").lower()


def normal_dn(dn: str) -> str:
    """``dn`` as LDAP compares it: case and the spaces around ``,`` and ``=`` do not
    matter (``OU=Users, DC=pori`` is ``ou=users,dc=pori``)."""
    return ",".join(
        "=".join(part.strip() for part in rdn.split("=", 1)) for rdn in dn.lower().split(",")
    )


def check_copy_paste(cities: list[CityInput]) -> list[Problem]:
    """Values two cities almost never share on purpose: warnings (errors with --strict).

    The same domain controller, LDAP users/groups DN or bind DN, or SAML entity ID
    in two cities is nearly always a city file started as a copy of another's; so
    is an application redirect URI on another city's domain."""
    warning = Severity.WARNING
    controllers: dict[str, list[tuple[FieldPath, str]]] = defaultdict(list)
    directories: dict[str, list[tuple[FieldPath, str]]] = defaultdict(list)
    binds: dict[str, list[tuple[FieldPath, str]]] = defaultdict(list)
    entities: dict[str, list[tuple[FieldPath, str]]] = defaultdict(list)
    for city in cities:
        slug, spec = city.config.slug, city.config.spec
        if spec.ldap is not None:
            for index, dc in enumerate(spec.ldap.domain_controllers):
                loc = ("ldap", "domain_controllers", index, "host")
                controllers[slug].append((loc, dc.host.lower()))
            directories[slug].append((("ldap", "users_dn"), normal_dn(spec.ldap.users_dn)))
            if spec.ldap.groups_dn is not None:
                directories[slug].append((("ldap", "groups_dn"), normal_dn(spec.ldap.groups_dn)))
            binds[slug].append((("ldap", "bind_dn"), normal_dn(spec.ldap.bind_dn)))
        for index, app in enumerate(spec.applications):
            if app.protocol == "saml":
                entities[slug].append((("applications", index, "client_id"), app.client_id))
    problems = [
        *check_unique(cities, "domain controller", controllers, warning),
        *check_unique(cities, "LDAP directory DN", directories, warning),
        *check_unique(cities, "LDAP bind DN", binds, warning),
        *check_unique(cities, "SAML entity ID", entities, warning),
    ]
    domains = {c.config.slug: c.config.spec.city.domain.lower() for c in cities}
    for city in cities:
        own = domains[city.config.slug]
        for index, app in enumerate(city.config.spec.applications):
            for number, uri in enumerate(app.redirect_uris):
                host = _host(uri)
                if host == own or host.endswith("." + own):
                    continue
                for other, domain in domains.items():
                    on_other = host == domain or host.endswith("." + domain)
                    if other != city.config.slug and on_other:
                        problems.append(
                            _problem(
                                city,
                                ("applications", index, "redirect_uris", number),
                                f"'{uri}' is on {other}'s domain {domain}: copied from "
                                f"{other}'s file?",
                                warning,
                            )
                        )
    return problems
