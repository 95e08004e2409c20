"""Importing a rendered realm file into the real Keycloak, and reading it back.

Keycloak's own import is the admin REST API's realm creation (``POST
/admin/realms``, the same ``RealmManager.importRealm`` that ``kc.sh import``
runs); keycloak-config-cli's ``userProfile`` extension is converted the way it
does it (tests/keycloak/config_cli.py). What Keycloak kept is read back with its
own export (``partial-export`` plus the user profile), and compared with the
file: every value the file sets must be there, or Keycloak ignored it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tests.keycloak.admin import KeycloakAdmin
from tests.keycloak.config_cli import ConvertedRealm

#: how Keycloak's export shows a secret it holds
MASK = "**********"
#: keys whose values the export masks
SECRET_KEYS = frozenset({"secret", "clientSecret", "bindCredential"})
#: what identifies an element of a list of objects, in order of preference
IDENTITY_KEYS = ("clientId", "alias", "username", "flowAlias", "authenticator", "name")
#: realm keys that are collections of their own (partial import and their endpoints)
COLLECTIONS = frozenset(
    {
        "clients",
        "clientScopes",
        "components",
        "groups",
        "roles",
        "users",
        "identityProviders",
        "identityProviderMappers",
        "authenticationFlows",
        "authenticatorConfig",
        "requiredActions",
        "userProfile",
    }
)


def _identity(element: Mapping[str, Any]) -> dict[str, Any] | None:
    """The keys that tell ``element`` apart from its siblings (``subType`` separates the
    client registration policies Keycloak keeps once per anonymous/authenticated)."""
    for key in IDENTITY_KEYS:
        if key in element:
            identity = {key: element[key]}
            if "subType" in element:
                identity["subType"] = element["subType"]
            return identity
    return None


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Where ``actual`` (Keycloak's export) lacks or changes what ``expected`` (the file) sets."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{path}: expected an object, Keycloak has {actual!r}"]
        found = []
        for key, value in expected.items():
            where = f"{path}.{key}" if path else key
            if key not in actual:
                found.append(f"{where}: not in Keycloak's export (ignored)")
            elif key in SECRET_KEYS and actual[key] in (MASK, [MASK]):
                continue
            else:
                found += differences(value, actual[key], where)
        return found
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, Keycloak has {actual!r}"]
        if all(isinstance(e, dict) and _identity(e) for e in expected):
            found = []
            for element in expected:
                identity = _identity(element) or {}
                label = ",".join(f"{k}={v}" for k, v in identity.items())
                match = [
                    a
                    for a in actual
                    if isinstance(a, dict) and all(a.get(k) == v for k, v in identity.items())
                ]
                if len(match) != 1:
                    found.append(f"{path}[{label}]: {len(match)} in Keycloak's export")
                else:
                    found += differences(element, match[0], f"{path}[{label}]")
            return found
        if sorted(map(repr, expected)) != sorted(map(repr, actual)):
            return [f"{path}: file has {expected!r}, Keycloak has {actual!r}"]
        return []
    if expected != actual:
        return [f"{path}: file has {expected!r}, Keycloak has {actual!r}"]
    return []


def realm_level(realm: Mapping[str, Any]) -> dict[str, Any]:
    """The realm's own settings, without the collections that have endpoints of their own."""
    return {k: v for k, v in realm.items() if k not in COLLECTIONS}


def update_realm(admin: KeycloakAdmin, name: str, settings: Mapping[str, Any]) -> None:
    """PUT the realm's settings, keeping the attributes the file does not name.

    Keycloak's PUT replaces the attribute map as a whole; keycloak-config-cli merges
    the file's attributes into the realm's (its CHANGELOG 4.1.0: "Realm attributes in
    configuration file overwrite the realm's state when the realm is updated", fixed)."""
    body = dict(settings)
    if "attributes" in body:
        current = admin.get(f"/{name}").get("attributes") or {}
        body["attributes"] = {**current, **body["attributes"]}
    admin.put(f"/{name}", body)


def delete_if_present(admin: KeycloakAdmin, realm: str) -> None:
    if admin.realm_exists(realm):
        admin.delete(f"/{realm}")


def import_realm(admin: KeycloakAdmin, converted: ConvertedRealm) -> None:
    """Keycloak's own import of the file, then config-cli's user profile step."""
    name = converted.realm["realm"]
    delete_if_present(admin, name)
    admin.post("", converted.realm)
    if converted.user_profile is not None:
        admin.put(f"/{name}/users/profile", converted.user_profile or None)


def export_realm(admin: KeycloakAdmin, realm: str) -> dict[str, Any]:
    """Keycloak's export of the realm (clients, groups and roles included) and its user profile."""
    exported: dict[str, Any] = admin.post(
        f"/{realm}/partial-export?exportClients=true&exportGroupsAndRoles=true"
    ).json()
    exported["userProfile"] = admin.get(f"/{realm}/users/profile")
    return exported


def reimport(admin: KeycloakAdmin, converted: ConvertedRealm) -> dict[str, Any]:
    """The same file applied again onto the realm that has it: Keycloak's partial import
    (existing resources skipped), the realm settings and the user profile put again.
    Returns the partial import's summary."""
    name = converted.realm["realm"]
    summary: dict[str, Any] = admin.post(
        f"/{name}/partialImport", {**converted.realm, "ifResourceExists": "SKIP"}
    ).json()
    update_realm(admin, name, realm_level(converted.realm))
    if converted.user_profile is not None:
        admin.put(f"/{name}/users/profile", converted.user_profile or None)
    return summary
