"""A change through the catalog: an application added with ``ociam app add`` works,
removed with ``ociam app remove`` it stops working, and nothing else changes.

The platform engineer's path: the CLI edits the city file, ``ociam render``
renders it, the apply Job applies the realm file (here: Keycloak's own import
for what is added, tests/logins/withdraw.py for what keycloak-config-cli's
remote state removes, since it cannot run here).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.keycloak.realm_import import differences, export_realm
from tests.logins.city import LoginCity
from tests.logins.flows import Authenticator, login
from tests.logins.withdraw import withdraw_removed

pytestmark = pytest.mark.logins

USER = "sanna.muutos"
APP_NAME = "Lasten päivähoito"
REDIRECT = "https://dev-paivahoito.demo.example/callback"


def _login(city: LoginCity, client_id: str, redirect: str, phone: Authenticator, **kw: Any) -> Any:
    return login(
        city.browser(),
        issuer=city.issuer("employees"),
        client_id=client_id,
        redirect_uri=redirect,
        username=USER,
        password=city.employees[USER].password,
        authenticator=phone,
        **kw,
    )


def _credentials(found: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return sorted((str(c.get("type")), str(c.get("id", ""))) for c in found)


def _without(exported: dict[str, Any], client_id: str) -> dict[str, Any]:
    """The realm's export without one client (and its entry, empty, among client roles)."""
    copy = dict(exported)
    copy["clients"] = sorted(
        (c for c in exported.get("clients", []) if c["clientId"] != client_id),
        key=lambda c: c["clientId"],
    )
    roles = dict(exported.get("roles", {}))
    roles["client"] = {k: v for k, v in roles.get("client", {}).items() if k != client_id}
    copy["roles"] = roles
    return copy


def test_an_application_added_and_removed_through_the_catalog(login_city: LoginCity) -> None:
    city = login_city
    phone = Authenticator()
    admin = city.admin()
    before = city.realm_document("employees")

    added = city.ociam(
        "app", "add", "demo", "--env", "dev", "--realm", "employees", "--name", APP_NAME,
        "--protocol", "oidc", "--public", "--redirect-uri", REDIRECT, "--output", "json",
    )  # fmt: skip
    assert added.returncode == 0, added.stdout + added.stderr
    city.rerender()
    with_app = city.realm_document("employees")
    (client_id,) = {c["clientId"] for c in with_app["clients"]} - {
        c["clientId"] for c in before["clients"]
    }
    city.apply_realm("employees", fresh=False)
    walk = _login(city, client_id, REDIRECT, phone)
    assert walk.result is not None and walk.result.ok, (walk.steps, walk.result)
    intranet_before = export_realm(admin, "employees")
    users_before = admin.get("/employees/users", params={"username": USER, "exact": "true"})
    credentials_before = admin.get(f"/employees/users/{users_before[0]['id']}/credentials")

    removed = city.ociam("app", "remove", "demo", client_id, "--env", "dev", "--output", "json")
    assert removed.returncode == 0, removed.stdout + removed.stderr
    city.rerender()
    after = city.realm_document("employees")
    assert after == before, "removing the application did not give back the earlier realm file"
    assert withdraw_removed(admin, with_app, after) == [f"client {client_id}"]
    city.apply_realm("employees", fresh=False)

    gone = _login(city, client_id, REDIRECT, phone)
    assert gone.result is not None and not gone.result.ok
    assert gone.steps == [], "Keycloak showed a login form for a removed client"
    assert "Client not found" in gone.result.page or gone.result.status == 400, gone.result
    # nothing else changed: the realm is the same but for that client, the user keeps
    # her account and second factor, and the other application still logs her in
    exported = _without(export_realm(admin, "employees"), client_id)
    earlier = _without(intranet_before, client_id)
    changed = differences(earlier, exported) + differences(exported, earlier)
    assert not changed, "\n".join(changed)
    users_after = admin.get("/employees/users", params={"username": USER, "exact": "true"})
    assert [u["id"] for u in users_after] == [u["id"] for u in users_before]
    credentials_after = admin.get(f"/employees/users/{users_after[0]['id']}/credentials")
    # her OTP credential (Keycloak's; the password one is the directory's and has no id)
    assert _credentials(credentials_after) == _credentials(credentials_before)
    assert any(kind == "otp" for kind, _ in _credentials(credentials_after))
    intranet = _login(
        city, "intranet", "https://dev-intra.demo.example/oauth2/callback", phone,
        client_secret=city.secret("intranetClientSecret"),
    )  # fmt: skip
    assert intranet.result is not None and intranet.result.ok, (intranet.steps, intranet.result)
    assert intranet.steps == ["password", "otp"]
