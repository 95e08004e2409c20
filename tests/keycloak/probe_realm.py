"""A throwaway realm with password users and a public PKCE client, for driving logins.

It is test scaffolding on the real Keycloak, not part of any render: the
rendered realms log employees in through AD and residents through Suomi.fi,
neither of which this tier runs (see the people-log-in tests for those).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from tests.keycloak.admin import KeycloakAdmin
from tests.keycloak.gateway import Route

REALM = "ociam-probe"
CLIENT_ID = "probe-app"
REDIRECT_URI = "https://probe-app.example/callback"


@dataclass(frozen=True)
class ProbeRealm:
    realm: str
    client_id: str
    redirect_uri: str
    users: dict[str, str]

    def issuer(self, public_host: str) -> str:
        return f"https://{public_host}/realms/{self.realm}"

    def route(self, public_host: str) -> Route:
        """The test's own route for the probe realm on the public hostname (no render has
        it: the gateway stand-in routes only the city's realms there)."""
        return Route((public_host,), (("PathPrefix", f"/realms/{self.realm}/"),))


def create_probe_realm(
    admin: KeycloakAdmin, users: int = 3, *, brute_force: bool = True
) -> ProbeRealm:
    """(Re)create the probe realm with ``users`` password users."""
    if admin.realm_exists(REALM):
        admin.delete(f"/{REALM}")
    passwords = {f"probe-user-{i}": secrets.token_urlsafe(18) for i in range(users)}
    admin.post(
        "",
        {
            "realm": REALM,
            "enabled": True,
            "bruteForceProtected": brute_force,
            "eventsEnabled": False,
            "clients": [
                {
                    "clientId": CLIENT_ID,
                    "publicClient": True,
                    "standardFlowEnabled": True,
                    "directAccessGrantsEnabled": False,
                    "redirectUris": [REDIRECT_URI],
                    "attributes": {"pkce.code.challenge.method": "S256"},
                }
            ],
            "users": [
                {
                    "username": name,
                    "enabled": True,
                    "email": f"{name}@probe.example",
                    "emailVerified": True,
                    "firstName": "Probe",
                    "lastName": name,
                    "credentials": [{"type": "password", "value": pw, "temporary": False}],
                }
                for name, pw in passwords.items()
            ],
        },
    )
    return ProbeRealm(REALM, CLIENT_ID, REDIRECT_URI, passwords)
