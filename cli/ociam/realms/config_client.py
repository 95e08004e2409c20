"""The config job's own identity: a least-privilege ``client_credentials`` client.

How it comes to exist (docs/realms.md, "Who may change realms"):

1. Keycloak's first start creates the temporary bootstrap service account
   (``KC_BOOTSTRAP_ADMIN_CLIENT_ID``/``_SECRET``, full admin of master). It is
   kept for break-glass only.
2. The **bootstrap Job** runs keycloak-config-cli with those credentials and
   imports only what is below: an empty shell of each city realm (so that the
   realms' management clients exist in master), then, in master, the client
   ``ociam-realm-config`` and the roles of its service account. It deletes
   nothing. It re-runs only when this content changes (its name carries the hash).
3. The **apply Job** runs with ``ociam-realm-config``: it can manage the city's
   realms and nothing else: not master, not other realms, no realm creation,
   no impersonation, no fine-grained permission changes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ociam.realms.placeholders import CONFIG_CLIENT_SECRET_ENV, placeholder

JsonObject = dict[str, Any]

CONFIG_CLIENT_ID = "ociam-realm-config"
MASTER = "master"

#: roles of each ``<realm>-realm`` client in master that the apply Job needs:
#: realm settings, flows, components (LDAP), clients and scopes, identity
#: providers, groups (manage-users), event settings, and reading them back
REALM_ADMIN_ROLES = (
    "manage-clients",
    "manage-events",
    "manage-identity-providers",
    "manage-realm",
    "manage-users",
    "query-clients",
    "query-groups",
    "query-realms",
    "query-users",
    "view-clients",
    "view-events",
    "view-identity-providers",
    "view-realm",
    "view-users",
)


def realm_shell(realm: str) -> JsonObject:
    """Just enough for Keycloak to create the realm and its management client in master."""
    return {"realm": realm, "enabled": True}


def master_config_client(realms: Iterable[str]) -> JsonObject:
    """The master-realm part: the config client and its per-realm roles, no secret value."""
    names = sorted(realms)
    return {
        "realm": MASTER,
        "clients": [
            {
                "clientId": CONFIG_CLIENT_ID,
                "name": "ociam realm configuration job",
                "description": "keycloak-config-cli in the city namespace; manages the city "
                "realms only (see docs/realms.md)",
                "enabled": True,
                "protocol": "openid-connect",
                "publicClient": False,
                "clientAuthenticatorType": "client-secret",
                "secret": placeholder(CONFIG_CLIENT_SECRET_ENV),
                "standardFlowEnabled": False,
                "implicitFlowEnabled": False,
                "directAccessGrantsEnabled": False,
                "serviceAccountsEnabled": True,
                "consentRequired": False,
                "frontchannelLogout": False,
                "attributes": {
                    "access.token.lifespan": "300",
                    "client_credentials.use_refresh_token": "false",
                    "oauth2.device.authorization.grant.enabled": "false",
                },
            }
        ],
        "users": [
            {
                "username": f"service-account-{CONFIG_CLIENT_ID}",
                "enabled": True,
                "serviceAccountClientId": CONFIG_CLIENT_ID,
                "clientRoles": {f"{realm}-realm": list(REALM_ADMIN_ROLES) for realm in names},
            }
        ],
    }
