"""The bootstrap path for real, on the demo city's Keycloak.

Keycloak's first start creates the bootstrap service account from the
rendered ``keycloak-bootstrap-admin`` Secret. With it, the bootstrap Job's
files (read as its keycloak-config-cli reads them) create the realm shells and
the least-privilege client ``ociam-realm-config``. That client then applies the
city's realm files itself (the apply Job's calls, tests/keycloak/apply.py), and
every call outside what the apply needs is refused by Keycloak.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from ociam.realms.config_client import CONFIG_CLIENT_ID, REALM_ADMIN_ROLES
from tests.keycloak.admin import KeycloakAdmin
from tests.keycloak.apply import apply_realm
from tests.keycloak.config_cli import convert_extensions, read_like_config_cli
from tests.keycloak.conftest import RunningCity
from tests.keycloak.realm_import import delete_if_present, differences, export_realm

pytestmark = pytest.mark.keycloak

OUTSIDE_REALM = "ociam-outside"


def _bootstrap_import(admin: KeycloakAdmin, document: dict[str, Any]) -> None:
    """The bootstrap Job's work on one file: a realm shell is created when missing; in
    master, the config client is created and its service account gets the listed roles."""
    if document["realm"] != "master":
        if not admin.realm_exists(document["realm"]):
            admin.post("", document)
        return
    assert set(document) <= {"realm", "clients", "users"}, sorted(document)
    for client in document["clients"]:
        admin.post("/master/clients", client)
    for user in document["users"]:
        (client,) = admin.get(
            "/master/clients", params={"clientId": user["serviceAccountClientId"]}
        )
        account = admin.get(f"/master/clients/{client['id']}/service-account-user")
        for owner, roles in user["clientRoles"].items():
            (target,) = admin.get("/master/clients", params={"clientId": owner})
            available = {r["name"]: r for r in admin.get(f"/master/clients/{target['id']}/roles")}
            admin.post(
                f"/master/users/{account['id']}/role-mappings/clients/{target['id']}",
                [available[r] for r in roles],
            )


@pytest.fixture(scope="module")
def bootstrapped(demo: RunningCity) -> tuple[KeycloakAdmin, KeycloakAdmin, list[str]]:
    deployment = demo.deployment
    bootstrap = deployment.bootstrap_admin()
    files = read_like_config_cli(
        deployment.stack.job_files("bootstrap"), deployment.job_env("bootstrap")
    )
    realms = [d["realm"] for d in files.values() if d["realm"] != "master"]
    # as on a first deployment: no city realm and no config client yet
    for realm in [*realms, OUTSIDE_REALM]:
        delete_if_present(bootstrap, realm)
    for client in bootstrap.get("/master/clients", params={"clientId": CONFIG_CLIENT_ID}):
        bootstrap.delete(f"/master/clients/{client['id']}")
    for document in files.values():
        _bootstrap_import(bootstrap, document)
    bootstrap.post("", {"realm": OUTSIDE_REALM, "enabled": True})
    return bootstrap, deployment.config_client(), realms


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return decoded


def test_the_config_client_holds_only_the_realm_roles_it_was_given(
    bootstrapped: tuple[KeycloakAdmin, KeycloakAdmin, list[str]],
) -> None:
    _, config, realms = bootstrapped
    claims = _claims(config.token())
    assert claims["azp"] == CONFIG_CLIENT_ID
    access = dict(claims.get("resource_access", {}))
    # every master user's default roles: its own account only, no administration
    account = access.pop("account", {"roles": []})
    assert set(account["roles"]) <= {"manage-account", "manage-account-links", "view-profile"}
    assert set(access) == {f"{r}-realm" for r in realms}, sorted(access)
    for realm in realms:
        assert sorted(access[f"{realm}-realm"]["roles"]) == sorted(REALM_ADMIN_ROLES)
    assert not {"admin", "create-realm"} & set(claims.get("realm_access", {}).get("roles", []))


def test_the_config_client_applies_every_realm_file_of_the_city(
    demo: RunningCity, bootstrapped: tuple[KeycloakAdmin, KeycloakAdmin, list[str]]
) -> None:
    bootstrap, config, realms = bootstrapped
    deployment = demo.deployment
    documents = read_like_config_cli(
        deployment.stack.job_files("apply"), deployment.job_env("apply")
    )
    assert sorted(d["realm"] for d in documents.values()) == sorted(realms)
    for filename, document in documents.items():
        converted = convert_extensions(document)
        apply_realm(config, converted)
        exported = export_realm(bootstrap, converted.realm["realm"])
        expected = {
            **converted.realm,
            "userProfile": converted.user_profile or exported["userProfile"],
        }
        problems = differences(expected, exported)
        assert not problems, f"{filename}:\n" + "\n".join(problems)
        # nothing in the realm's LDAP federation that the file does not name
        for provider in (converted.realm.get("components") or {}).get(
            "org.keycloak.storage.UserStorageProvider", []
        ):
            (kept,) = [
                c
                for c in exported["components"]["org.keycloak.storage.UserStorageProvider"]
                if c["name"] == provider["name"]
            ]
            named = {m["name"] for subs in provider["subComponents"].values() for m in subs}
            present = {
                m["name"]: m for subs in kept.get("subComponents", {}).values() for m in subs
            }
            added = {n: m for n, m in present.items() if n not in named}
            assert not added, f"{filename}: Keycloak added LDAP mappers {json.dumps(added)}"


def test_the_config_client_can_do_nothing_more(
    bootstrapped: tuple[KeycloakAdmin, KeycloakAdmin, list[str]],
) -> None:
    bootstrap, config, realms = bootstrapped
    city_realm = realms[0]
    user = {"username": "ociam-impersonation-probe", "enabled": True}
    config.post(f"/{city_realm}/users", user)  # manage-users: the apply may create users
    (created,) = config.get(f"/{city_realm}/users", params={"username": user["username"]})
    (own,) = bootstrap.get("/master/clients", params={"clientId": CONFIG_CLIENT_ID})
    account = bootstrap.get(f"/master/clients/{own['id']}/service-account-user")
    admin_role = bootstrap.get("/master/roles/admin")
    refused = {
        "read master's users": ("GET", "/master/users", None),
        "read master's clients": ("GET", "/master/clients", None),
        "change master": ("PUT", "/master", {"displayName": "changed by the config client"}),
        "create a realm": ("POST", "", {"realm": "ociam-created-by-config-client"}),
        "read the users of a realm outside the city's": ("GET", f"/{OUTSIDE_REALM}/users", None),
        "read the clients of a realm outside the city's": (
            "GET",
            f"/{OUTSIDE_REALM}/clients",
            None,
        ),
        "change a realm outside the city's": ("PUT", f"/{OUTSIDE_REALM}", {"enabled": False}),
        "impersonate a user": ("POST", f"/{city_realm}/users/{created['id']}/impersonation", None),
        "grant itself master's admin role": (
            "POST",
            f"/master/users/{account['id']}/role-mappings/realm",
            [admin_role],
        ),
    }
    answers = {what: config.status(m, p, b) for what, (m, p, b) in refused.items()}
    assert all(status in {403, 404} for status in answers.values()), str(answers)
    assert answers["read master's users"] == 403 and answers["create a realm"] == 403
    # any administrator may see that another realm exists, by name only (Keycloak's
    # RealmAdminResource.getRealm answers "view realm name list" with a brief representation)
    outside = config.get(f"/{OUTSIDE_REALM}")
    brief = {"id", "realm", "displayName", "displayNameHtml", "enabled", "bruteForceProtected"}
    brief |= {"supportedLocales", "organizationsEnabled"}
    assert set(outside) <= brief, outside
    # and what it was given still works
    assert config.status("GET", f"/{city_realm}") == 200
    bootstrap.delete(f"/{city_realm}/users/{created['id']}")
