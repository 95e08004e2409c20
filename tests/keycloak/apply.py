"""The realm configuration Jobs' work, as admin REST calls, where keycloak-config-cli cannot run.

keycloak-config-cli imports a realm file into an existing realm through the
admin REST API, one kind of object after the other (``service/*ImportService``:
realm settings, required actions, flows with their executions, components with
their sub-components, identity providers and their mappers, clients, user
profile, and the flow bindings last). This module makes the same calls, in
that order, for the kinds of objects our files contain, so that a test can run
them **as the Job's own identity** and see what Keycloak allows it to do. It is
not keycloak-config-cli: it has no remote state and deletes nothing; a file
with a kind of object it does not know is refused, not skipped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from tests.keycloak.admin import KeycloakAdmin
from tests.keycloak.config_cli import ConvertedRealm
from tests.keycloak.realm_import import realm_level, update_realm

FLOW_BINDINGS = (
    "browserFlow",
    "registrationFlow",
    "directGrantFlow",
    "resetCredentialsFlow",
    "clientAuthenticationFlow",
    "dockerAuthenticationFlow",
    "firstBrokerLoginFlow",
)
#: collections this emulation applies; any other non-empty one is refused
APPLIED = frozenset(
    {
        "requiredActions",
        "authenticationFlows",
        "components",
        "identityProviders",
        "identityProviderMappers",
        "clients",
        "userProfile",
        "authenticatorConfig",
    }
)
UNSUPPORTED = frozenset({"clientScopes", "groups", "roles", "users"})


def _path(*parts: str) -> str:
    return "/" + "/".join(quote(p, safe="") for p in parts)


def apply_realm(admin: KeycloakAdmin, converted: ConvertedRealm) -> None:
    """Apply ``converted`` onto its existing realm as ``admin``, config-cli's way."""
    realm = converted.realm
    name = realm["realm"]
    refused = sorted(k for k in UNSUPPORTED if realm.get(k))
    if refused:
        raise NotImplementedError(f"{name}: this emulation does not apply {refused}")
    settings = realm_level(realm)
    bindings = {k: settings.pop(k) for k in FLOW_BINDINGS if k in settings}
    update_realm(admin, name, settings)
    for action in realm.get("requiredActions", []):
        _required_action(admin, name, action)
    flows = {f["alias"]: f for f in realm.get("authenticationFlows", [])}
    configs = {c["alias"]: c for c in realm.get("authenticatorConfig", [])}
    for flow in flows.values():
        if flow.get("topLevel"):
            admin.post(
                _path(name, "authentication", "flows"),
                {
                    "alias": flow["alias"],
                    "description": flow.get("description", ""),
                    "providerId": flow["providerId"],
                    "topLevel": True,
                    "builtIn": False,
                },
            )
            _executions(admin, name, flow, flows, configs)
    realm_id = admin.get(_path(name))["id"]
    for provider_type, components in (realm.get("components") or {}).items():
        for component in components:
            _component(admin, name, realm_id, provider_type, component)
    for provider in realm.get("identityProviders", []):
        admin.post(_path(name, "identity-provider", "instances"), provider)
    for mapper in realm.get("identityProviderMappers", []):
        alias = mapper["identityProviderAlias"]
        admin.post(_path(name, "identity-provider", "instances", alias, "mappers"), mapper)
    for client in realm.get("clients", []):
        admin.post(_path(name, "clients"), client)
    if converted.user_profile is not None:
        admin.put(_path(name, "users", "profile"), converted.user_profile or None)
    if bindings:
        admin.put(_path(name), bindings)


def _required_action(admin: KeycloakAdmin, realm: str, action: Mapping[str, Any]) -> None:
    path = _path(realm, "authentication", "required-actions", action["alias"])
    if admin.call("GET", path, expect=(200, 404)).status_code == 404:
        admin.post(
            _path(realm, "authentication", "register-required-action"),
            {"providerId": action["providerId"], "name": action["name"]},
        )
    admin.put(path, dict(action))


def _executions(
    admin: KeycloakAdmin,
    realm: str,
    flow: Mapping[str, Any],
    flows: Mapping[str, Mapping[str, Any]],
    configs: Mapping[str, Mapping[str, Any]],
) -> None:
    """Create ``flow``'s executions in priority order, then set requirement, priority and
    authenticator configuration (AuthenticationFlowsImportService, ExecutionFlowsImportService,
    AuthenticatorConfigImportService)."""
    executions = sorted(flow.get("authenticationExecutions", []), key=lambda e: e["priority"])
    base = _path(realm, "authentication", "flows", flow["alias"], "executions")
    for execution in executions:
        if execution.get("authenticatorFlow"):
            sub = flows[execution["flowAlias"]]
            admin.post(
                base + "/flow",
                {
                    "alias": sub["alias"],
                    "description": sub.get("description", ""),
                    "type": sub["providerId"],
                    "provider": "registration-page-form"
                    if sub["providerId"] == "form-flow"
                    else "",
                },
            )
        else:
            admin.post(base + "/execution", {"provider": execution["authenticator"]})
    infos = [i for i in admin.get(base) if i.get("level") == 0]
    for execution in executions:
        if execution.get("authenticatorFlow"):
            (info,) = [
                i
                for i in infos
                if i.get("authenticationFlow") and i["displayName"] == execution["flowAlias"]
            ]
        else:
            (info,) = [i for i in infos if i.get("providerId") == execution["authenticator"]]
        admin.put(
            base,
            {**info, "requirement": execution["requirement"], "priority": execution["priority"]},
        )
        if execution.get("authenticatorConfig"):
            config = configs[execution["authenticatorConfig"]]
            admin.post(
                _path(realm, "authentication", "executions", info["id"], "config"),
                {"alias": config["alias"], "config": config.get("config", {})},
            )
    for execution in executions:
        if execution.get("authenticatorFlow"):
            _executions(admin, realm, flows[execution["flowAlias"]], flows, configs)


def _component(
    admin: KeycloakAdmin,
    realm: str,
    parent_id: str,
    provider_type: str,
    component: Mapping[str, Any],
) -> None:
    created = admin.post(
        _path(realm, "components"),
        {
            "name": component["name"],
            "providerId": component["providerId"],
            "providerType": provider_type,
            "parentId": parent_id,
            "config": component.get("config", {}),
        },
    )
    component_id = created.headers["Location"].rsplit("/", 1)[1]
    existing = admin.get(_path(realm, "components"), params={"parent": component_id})
    for sub_type, subs in (component.get("subComponents") or {}).items():
        for sub in subs:
            body = {
                "name": sub["name"],
                "providerId": sub["providerId"],
                "providerType": sub_type,
                "parentId": component_id,
                "config": sub.get("config", {}),
            }
            same = [e for e in existing if e["name"] == sub["name"]]
            if same:
                admin.put(_path(realm, "components", same[0]["id"]), {**same[0], **body})
            else:
                admin.post(_path(realm, "components"), body)
