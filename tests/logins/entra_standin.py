"""A Microsoft Entra ID stand-in: a second Keycloak realm acting as the city's tenant.

Entra ID itself cannot be reached from here. What the city's employees realm
relies on is plain OpenID Connect, which Keycloak's own OIDC provider speaks for
real: the authorization endpoint with PKCE S256, the code exchanged for tokens
at the token endpoint with ``client_secret_post``, an ID token signed with a key
from the JWKS endpoint and an ``iss`` that must equal the configured issuer.

The stand-in is set up as the city's app registration in its tenant: a
confidential client whose ID and secret are the catalog's ``entra_id.client_id``
and the Pulumi secret ``entra_id.client_secret`` names, its one redirect URI
the employees realm's broker endpoint, PKCE required. Its accounts carry what
an Entra ID token carries for a work account: ``preferred_username`` the UPN,
``email``, ``given_name``, ``family_name``.

Of the rendered broker only the endpoint URLs are replaced (:func:`point_broker`),
and only after checking that they are the tenant's own Microsoft v2.0 URLs;
everything else (client, secret, PKCE, signature validation, sync mode, first
broker login flow) is the render's. As with the Suomi.fi stand-in, the browser
reaches the stand-in on the city's public host through the gateway and Keycloak's
server-side calls (token, JWKS) reach it on its own HTTP listener, since the pod
has no route to its public https URL.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin

import requests

from tests.keycloak.admin import KeycloakAdmin
from tests.keycloak.browser import AuthorizationRequest, LoginResult, follow_redirects, forms
from tests.keycloak.gateway import Route

REALM = "entra-standin"
MICROSOFT = "https://login.microsoftonline.com"
#: the broker's endpoint settings and where each one is on an Entra ID tenant (v2.0)
ENDPOINTS = {
    "issuer": "{tenant}/v2.0",
    "authorizationUrl": "{tenant}/oauth2/v2.0/authorize",
    "tokenUrl": "{tenant}/oauth2/v2.0/token",
    "logoutUrl": "{tenant}/oauth2/v2.0/logout",
    "jwksUrl": "{tenant}/discovery/v2.0/keys",
}


@dataclass(frozen=True)
class WorkAccount:
    """An account in the city's Entra ID tenant."""

    upn: str
    email: str
    given_name: str
    family_name: str
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18), repr=False)


@dataclass(frozen=True)
class EntraStandIn:
    realm: str
    public_host: str
    tenant_id: str
    client_id: str

    @property
    def issuer(self) -> str:
        """The realm's issuer: the hostname Keycloak is configured with, whoever asks."""
        return f"https://{self.public_host}/realms/{self.realm}"

    def endpoints(self) -> dict[str, str]:
        """The broker's endpoint settings pointing here: the browser's on the public host,
        the server-side ones on the pod's own HTTP listener."""
        public = f"{self.issuer}/protocol/openid-connect"
        in_pod = f"http://localhost:8080/realms/{self.realm}/protocol/openid-connect"
        return {
            "issuer": self.issuer,
            "authorizationUrl": f"{public}/auth",
            "tokenUrl": f"{in_pod}/token",
            "logoutUrl": f"{public}/logout",
            "jwksUrl": f"{in_pod}/certs",
        }

    def route(self) -> Route:
        """The test's own route for the stand-in on the public host (no render has it)."""
        return Route((self.public_host,), (("PathPrefix", f"/realms/{self.realm}/"),))


def point_broker(provider: dict[str, Any], standin: EntraStandIn) -> dict[str, Any]:
    """The rendered Entra ID broker with its endpoints moved to the stand-in; refuses a
    broker whose endpoints are not the tenant's own (the render would be wrong)."""
    config = dict(provider["config"])
    tenant = f"{MICROSOFT}/{standin.tenant_id}"
    rendered = {key: config.get(key) for key in ENDPOINTS}
    expected = {
        key: f"{MICROSOFT}/{path.format(tenant=standin.tenant_id)}"
        for key, path in ENDPOINTS.items()
    }
    if rendered != expected:
        raise AssertionError(f"the rendered broker is not pinned to tenant {tenant}: {rendered}")
    return {**provider, "config": {**config, **standin.endpoints()}}


def create_entra_standin(
    admin: KeycloakAdmin,
    public_host: str,
    provider: dict[str, Any],
    client_secret: str,
    broker_redirect_uri: str,
    accounts: list[WorkAccount],
) -> EntraStandIn:
    """(Re)create the tenant realm (its own signing keys), the app registration of the
    rendered ``provider`` and the ``accounts``."""
    config = provider["config"]
    tenant_id = str(config["issuer"]).removeprefix(f"{MICROSOFT}/").split("/")[0]
    if admin.realm_exists(REALM):
        admin.delete(f"/{REALM}")
    admin.post(
        "",
        {"realm": REALM, "enabled": True, "bruteForceProtected": True, "eventsEnabled": False},
    )
    admin.post(
        f"/{REALM}/clients",
        {
            "clientId": config["clientId"],
            "name": "ociam employees (app registration)",
            "enabled": True,
            "protocol": "openid-connect",
            "publicClient": False,
            "clientAuthenticatorType": "client-secret",
            "secret": client_secret,
            "standardFlowEnabled": True,
            "implicitFlowEnabled": False,
            "directAccessGrantsEnabled": False,
            "serviceAccountsEnabled": False,
            "redirectUris": [broker_redirect_uri],
            "webOrigins": [],
            "attributes": {"pkce.code.challenge.method": "S256"},
        },
    )
    for account in accounts:
        admin.post(
            f"/{REALM}/users",
            {
                "username": account.upn,
                "enabled": True,
                "email": account.email,
                "emailVerified": True,
                "firstName": account.given_name,
                "lastName": account.family_name,
                "credentials": [
                    {"type": "password", "value": account.password, "temporary": False}
                ],
            },
        )
    return EntraStandIn(REALM, public_host, tenant_id, str(config["clientId"]))


@dataclass
class BrokerWalk:
    """What a login through the broker went through: every redirect the browser
    followed, the pages it was shown, and what the application got."""

    visited: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)
    result: LoginResult | None = None


def _refused(walk: BrokerWalk, page: requests.Response) -> BrokerWalk:
    walk.pages.append(page.text)
    walk.result = LoginResult.page_shown(page)
    return walk


def broker_login(
    session: requests.Session,
    *,
    issuer: str,
    client_id: str,
    redirect_uri: str,
    broker_alias: str,
    account: WorkAccount,
    client_secret: str | None = None,
) -> BrokerWalk:
    """Authorization code + PKCE S256 for the application, the employee choosing the
    identity provider's button on the realm's login page and signing in at the tenant."""
    walk = BrokerWalk()
    request = AuthorizationRequest.new(issuer, client_id, redirect_uri, ui_locales="en")
    first = session.get(request.url, allow_redirects=False, timeout=60)
    page = follow_redirects(session, first, redirect_uri, walk.visited)
    button = forms(page.text).links.get(f"social-{broker_alias}")
    if page.status_code != 200 or button is None:
        return _refused(walk, page)
    walk.pages.append(page.text)
    chosen = session.get(urljoin(page.url, button), allow_redirects=False, timeout=60)
    walk.visited.append(chosen.url)
    sign_in = follow_redirects(session, chosen, redirect_uri, walk.visited)
    login_forms = [
        f for f in forms(sign_in.text).forms if {"username", "password"} <= set(f["inputs"])
    ]
    if sign_in.status_code != 200 or not login_forms:
        return _refused(walk, sign_in)
    walk.pages.append(sign_in.text)
    fields = {**login_forms[0]["inputs"], "username": account.upn, "password": account.password}
    posted = session.post(login_forms[0]["action"], data=fields, allow_redirects=False, timeout=60)
    answer = follow_redirects(session, posted, redirect_uri, walk.visited)
    if answer.status_code not in {302, 303}:
        return _refused(walk, answer)
    walk.result = request.finish(session, answer, client_secret)
    return walk
