"""What keycloak-config-cli's remote state does when a file no longer lists an object.

keycloak-config-cli cannot run here (../shared/notes/keycloak-config-cli.md).
With ``IMPORT_REMOTESTATE_ENABLED=true`` and ``import.managed.client`` /
``import.managed.identity-provider`` set to ``full`` (as the rendered apply Job
sets them, docs/realms.md), a run deletes the clients and identity providers
that an earlier run created and the file no longer lists, and nothing else.
This module does exactly that between two versions of a realm file, as the
admin REST calls keycloak-config-cli makes (DELETE of the client, DELETE of the
identity provider); everything else of the new file is applied onto the realm
by tests/keycloak/realm_import.reimport.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tests.keycloak.admin import KeycloakAdmin


def withdraw_removed(
    admin: KeycloakAdmin, before: Mapping[str, Any], after: Mapping[str, Any]
) -> list[str]:
    """Delete what ``before`` created and ``after`` no longer has; returns what went."""
    realm = str(after["realm"])
    gone: list[str] = []
    kept = {c["clientId"] for c in after.get("clients", [])}
    for client in before.get("clients", []):
        if client["clientId"] in kept:
            continue
        for found in admin.get(f"/{realm}/clients", params={"clientId": client["clientId"]}):
            admin.delete(f"/{realm}/clients/{found['id']}")
            gone.append(f"client {client['clientId']}")
    aliases = {p["alias"] for p in after.get("identityProviders", [])}
    for provider in before.get("identityProviders", []):
        if provider["alias"] not in aliases:
            admin.delete(f"/{realm}/identity-provider/instances/{quote(provider['alias'])}")
            gone.append(f"identity provider {provider['alias']}")
    return gone
