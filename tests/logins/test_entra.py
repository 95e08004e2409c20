"""Employees sign in with Microsoft Entra ID (a stand-in tenant, see entra_standin.py)
and land on their AD account, as the catalog's rule for a city with LDAP says: the
broker never creates an account, it links to the AD user with the same e-mail or
username, or the login fails; AD stays the source of the person's data.

The walk is a browser's: the application sends the employee to the employees realm,
whose login page offers the city's Entra ID; the button leads to the tenant's sign-in
page (authorization code + PKCE S256 between the realm and the tenant), back to the
realm's broker endpoint, through the rendered first broker login flow, and to the
application with its own code (PKCE S256 again).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.keycloak.config_cli import convert_extensions
from tests.logins.city import LoginCity
from tests.logins.entra_standin import (
    BrokerWalk,
    EntraStandIn,
    WorkAccount,
    broker_login,
    create_entra_standin,
    point_broker,
)

pytestmark = pytest.mark.logins

REALM = "employees"
APP = "intranet"
REDIRECT = "https://dev-intra.demo.example/oauth2/callback"
ALIAS = "entra-id"
EMPLOYEE = "eeva.linkki"


@dataclass
class Tenant:
    city: LoginCity
    standin: EntraStandIn
    employee: WorkAccount
    outsider: WorkAccount

    def login(self, account: WorkAccount) -> BrokerWalk:
        return broker_login(
            self.city.browser(extra_routes=[self.standin.route()]),
            issuer=self.city.issuer(REALM),
            client_id=APP,
            redirect_uri=REDIRECT,
            broker_alias=ALIAS,
            account=account,
            client_secret=self.city.secret("intranetClientSecret"),
        )


@pytest.fixture(scope="module")
def tenant(login_city: LoginCity) -> Iterator[Tenant]:
    city = login_city
    admin = city.admin()
    realm = convert_extensions(city.realm_document(REALM)).realm
    (provider,) = [p for p in realm["identityProviders"] if p["alias"] == ALIAS]
    ad = city.employees[EMPLOYEE]
    employee = WorkAccount(
        upn=f"{EMPLOYEE}@{city.domain}",
        email=f"{EMPLOYEE}@{city.domain}",
        # the tenant spells her name differently from AD: AD's must win
        given_name="Eevi",
        family_name=ad.surname,
    )
    outsider = WorkAccount(
        upn=f"ulla.vieras@{city.domain}",
        email=f"ulla.vieras@{city.domain}",
        given_name="Ulla",
        family_name="Vieras",
    )
    standin = create_entra_standin(
        admin,
        city.public_host,
        provider,
        client_secret=city.secret(_secret_ref(city)),
        broker_redirect_uri=f"{city.issuer(REALM)}/broker/{ALIAS}/endpoint",
        accounts=[employee, outsider],
    )
    admin.put(f"/{REALM}/identity-provider/instances/{ALIAS}", point_broker(provider, standin))
    try:
        yield Tenant(city, standin, employee, outsider)
    finally:
        admin.put(f"/{REALM}/identity-provider/instances/{ALIAS}", provider)
        admin.delete(f"/{standin.realm}")


def _secret_ref(city: LoginCity) -> str:
    """The Pulumi secret the city file names for the app registration's secret."""
    entra = city.city_document()["realms"]["employees"]["entra_id"]
    return str(entra["client_secret"]["pulumi_secret"])


def _users(city: LoginCity, **query: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = city.admin().get(f"/{REALM}/users", params=query)
    return found


def test_the_rendered_broker_is_pinned_to_the_citys_tenant(tenant: Tenant) -> None:
    realm = convert_extensions(tenant.city.realm_document(REALM)).realm
    (provider,) = [p for p in realm["identityProviders"] if p["alias"] == ALIAS]
    # point_broker refuses a broker whose endpoints are not the tenant's Microsoft ones
    assert point_broker(provider, tenant.standin)["config"]["issuer"] == tenant.standin.issuer
    config = provider["config"]
    assert config["clientAuthMethod"] == "client_secret_post"
    assert (config["pkceEnabled"], config["pkceMethod"]) == ("true", "S256")
    assert config["validateSignature"] == "true" and config["useJwksUrl"] == "true"
    # AD is the source of the person's data: the broker only imports, never overwrites
    assert config["syncMode"] == "IMPORT"
    assert "identityProviderMappers" not in realm, realm.get("identityProviderMappers")


def test_an_employee_signs_in_with_entra_id_and_lands_on_her_ad_account(tenant: Tenant) -> None:
    city = tenant.city
    walk = tenant.login(tenant.employee)
    assert walk.result is not None and walk.result.ok, (walk.visited, walk.result)
    # the realm asked the tenant for a code with PKCE S256, as the city's app registration
    (authorize,) = [
        u for u in walk.visited if u.startswith(tenant.standin.endpoints()["authorizationUrl"])
    ]
    asked = parse_qs(urlsplit(authorize).query)
    assert asked["client_id"] == [tenant.standin.client_id]
    assert asked["code_challenge_method"] == ["S256"] and asked["code_challenge"]
    assert asked["redirect_uri"] == [f"{city.issuer(REALM)}/broker/{ALIAS}/endpoint"]
    # the only pages shown: the realm's login page and the tenant's sign-in page (an Entra
    # ID login relies on the tenant's MFA: no one-time code, no profile form)
    assert len(walk.pages) == 2, walk.pages[2:]
    ad = city.employees[EMPLOYEE]
    for token in ("id_token", "access_token"):
        claims = walk.result.claims(token)
        assert claims["iss"] == city.issuer(REALM)
        # the AD account, with AD's data (the tenant's "Eevi" did not overwrite "Eeva")
        assert claims["preferred_username"] == EMPLOYEE, claims
        assert (claims["given_name"], claims["family_name"]) == (ad.given_name, ad.surname)
        assert sorted(claims["groups"]) == sorted(ad.groups), claims
    (user,) = _users(city, username=EMPLOYEE, exact="true")
    assert user["federationLink"], "the linked account is not the LDAP user"
    assert walk.result.claims()["sub"] == user["id"]
    links = city.admin().get(f"/{REALM}/users/{user['id']}/federated-identity")
    assert [(link["identityProvider"], link["userName"]) for link in links] == [
        (ALIAS, tenant.employee.upn)
    ], links
    # one account for the person, not a second one made from the tenant's claims
    assert [u["username"] for u in _users(city, email=tenant.employee.email)] == [EMPLOYEE]

    again = tenant.login(tenant.employee)
    assert again.result is not None and again.result.ok, (again.visited, again.result)
    assert again.result.claims()["sub"] == user["id"]
    assert not any("first-broker-login" in u for u in again.visited), again.visited


def test_an_entra_account_without_an_ad_account_is_refused_and_no_account_is_made(
    tenant: Tenant,
) -> None:
    city = tenant.city
    walk = tenant.login(tenant.outsider)
    assert walk.result is not None and not walk.result.ok
    # the tenant did sign her in: the refusal is the realm's first broker login
    assert any(f"/broker/{ALIAS}/endpoint" in u for u in walk.visited), walk.visited
    # refused by the rendered first broker login flow: no AD account to link to
    assert "/login-actions/first-broker-login" in walk.visited[-1], walk.visited
    assert walk.result.status == 401, walk.result
    assert _users(city, email=tenant.outsider.email) == []
    assert _users(city, username=tenant.outsider.upn, exact="true") == []
    events = city.admin().get(
        f"/{REALM}/events", params={"type": "IDENTITY_PROVIDER_FIRST_LOGIN_ERROR"}
    )
    assert events, "the refused first login left no event"
