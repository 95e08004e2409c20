"""Applications from the catalog as Keycloak clients (OIDC and SAML) and their roles."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ociam.catalog.city import OidcApplication, SamlApplication
from ociam.realms.placeholders import SecretBinding

JsonObject = dict[str, Any]

#: scopes every OIDC client of ours gets; the catalog may add more by name
BASE_DEFAULT_SCOPES = ("acr", "basic", "email", "profile", "roles", "web-origins")
#: scopes Keycloak 26 creates in every realm: the only names default_scopes may use
BUILT_IN_SCOPES = frozenset(
    {
        *BASE_DEFAULT_SCOPES,
        "address",
        "phone",
        "offline_access",
        "microprofile-jwt",
        "organization",
        "service_account",
    }
)

SAML_NAME_ID_FORMATS = {
    "persistent": "persistent",
    "transient": "transient",
    "email": "email",
    "username": "username",
}


class ApplicationError(ValueError):
    """An application the realm builder refuses (the catalog checks should catch it first)."""


def _check_redirects(app: OidcApplication | SamlApplication, allow_wildcards: bool) -> None:
    uris = list(app.redirect_uris)
    if isinstance(app, OidcApplication):
        uris += app.post_logout_redirect_uris + app.web_origins
    for uri in uris:
        if "*" in uri and not allow_wildcards:
            raise ApplicationError(f"{app.client_id}: wildcard '{uri}' is not allowed here")


def groups_mapper() -> JsonObject:
    """Group names (not paths: AD groups are flat here) in the ``groups`` claim."""
    return {
        "name": "groups",
        "protocol": "openid-connect",
        "protocolMapper": "oidc-group-membership-mapper",
        "consentRequired": False,
        "config": {
            "claim.name": "groups",
            "full.path": "false",
            "id.token.claim": "true",
            "access.token.claim": "true",
            "userinfo.token.claim": "true",
            "introspection.token.claim": "true",
        },
    }


def oidc_client(
    app: OidcApplication, *, allow_wildcards: bool
) -> tuple[JsonObject, list[SecretBinding]]:
    """An OIDC client: authorization code only, PKCE S256 always, exact URIs."""
    _check_redirects(app, allow_wildcards)
    unknown = sorted(set(app.default_scopes) - BUILT_IN_SCOPES)
    if unknown:
        raise ApplicationError(
            f"{app.client_id}: unknown client scope(s) {', '.join(unknown)}; "
            f"built-in scopes: {', '.join(sorted(BUILT_IN_SCOPES))}"
        )
    scopes = sorted(set(BASE_DEFAULT_SCOPES) | set(app.default_scopes))
    attributes: dict[str, str] = {
        "pkce.code.challenge.method": "S256",
        # Keycloak's import turns an empty value into "+" (the redirect URIs): say so here,
        # or every keycloak-config-cli run would see a difference
        "post.logout.redirect.uris": "##".join(app.post_logout_redirect_uris) or "+",
        "oauth2.device.authorization.grant.enabled": "false",
        "oidc.ciba.grant.enabled": "false",
        "backchannel.logout.session.required": "true",
        "use.refresh.tokens": "true",
        "client_credentials.use_refresh_token": "false",
    }
    client: JsonObject = {
        "clientId": app.client_id,
        "name": app.name or app.client_id,
        "enabled": True,
        "protocol": "openid-connect",
        "publicClient": app.access_type == "public",
        "standardFlowEnabled": True,
        "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False,
        "serviceAccountsEnabled": False,
        "consentRequired": False,
        "frontchannelLogout": True,
        "fullScopeAllowed": False,
        "redirectUris": list(app.redirect_uris),
        "webOrigins": list(app.web_origins),
        "attributes": attributes,
        "defaultClientScopes": scopes,
    }
    if app.groups_claim:
        client["protocolMappers"] = [groups_mapper()]
    secrets: list[SecretBinding] = []
    if app.access_type == "confidential":
        if app.client_secret is None:  # the catalog model guarantees it
            raise ApplicationError(f"{app.client_id}: confidential client without client_secret")
        binding = SecretBinding.of(app.client_secret)
        client["clientAuthenticatorType"] = "client-secret"
        client["secret"] = binding.placeholder
        secrets.append(binding)
    return client, secrets


def saml_client(app: SamlApplication, *, allow_wildcards: bool) -> JsonObject:
    """A SAML service provider: signed responses, assertions signed when asked."""
    _check_redirects(app, allow_wildcards)
    return {
        "clientId": app.client_id,
        "name": app.name or app.client_id,
        "enabled": True,
        "protocol": "saml",
        "frontchannelLogout": True,
        "fullScopeAllowed": False,
        "redirectUris": list(app.redirect_uris),
        "attributes": {
            "saml.server.signature": "true",
            "saml.assertion.signature": str(app.sign_assertions).lower(),
            "saml.signature.algorithm": "RSA_SHA256",
            "saml.authnstatement": "true",
            "saml_force_name_id_format": "true",
            "saml_name_id_format": SAML_NAME_ID_FORMATS[app.name_id_format],
            # the catalog holds no SP certificate to verify signed requests with
            "saml.client.signature": "false",
            "saml.encrypt": "false",
        },
    }


def application_fields(
    apps: Iterable[OidcApplication | SamlApplication], *, allow_wildcards: bool
) -> tuple[JsonObject, list[SecretBinding]]:
    """``clients`` and ``roles.client`` of a realm, and the secrets they need."""
    clients: list[JsonObject] = []
    roles: dict[str, list[JsonObject]] = {}
    secrets: list[SecretBinding] = []
    for app in sorted(apps, key=lambda a: a.client_id):
        if isinstance(app, OidcApplication):
            client, needed = oidc_client(app, allow_wildcards=allow_wildcards)
            secrets.extend(needed)
            if app.roles:
                roles[app.client_id] = [
                    {"name": role, "clientRole": True, "composite": False}
                    for role in sorted(set(app.roles))
                ]
        else:
            client = saml_client(app, allow_wildcards=allow_wildcards)
        clients.append(client)
    fields: JsonObject = {}
    if clients:
        fields["clients"] = clients
    if roles:
        fields["roles"] = {"client": roles}
    return fields, secrets
