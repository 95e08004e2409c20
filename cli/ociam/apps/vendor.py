"""What an application's vendor needs, read from the city's render (``ociam app show``).

The issuer comes from the Keycloak StatefulSet's ``KC_HOSTNAME``; the client and
its settings from the realm file, as keycloak-config-cli will apply them. Only
the secret's *location* is printed (the stack's secret config key and the
command that reads it), never a value.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ociam.catalog import CityConfig
from ociam.catalog.city import OidcApplication

CITY_PROJECT_DIR = "stacks/city"
BACKEND_VARIABLES = ("OCIAM_PULUMI_BACKEND_URL", "PULUMI_BACKEND_URL")


class NotRendered(LookupError):
    """The render lacks what the vendor sheet needs (names what)."""


@dataclass(frozen=True)
class VendorSheet:
    """Fields in the order a vendor reads them, and the settings the application must use."""

    title: str
    fields: tuple[tuple[str, str | list[str]], ...]
    required: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        keys = {label: re.sub(r"[^a-z0-9]+", "_", label.lower()) for label, _ in self.fields}
        return {
            "title": self.title,
            **{keys[label]: value for label, value in self.fields},
            "required_settings": list(self.required),
        }

    def text(self) -> str:
        width = max(len(label) for label, _ in self.fields)
        lines = [self.title, ""]
        for label, value in self.fields:
            values = value if isinstance(value, list) else [value]
            for number, item in enumerate(values or ["-"]):
                lines.append(f"{(label if number == 0 else '').ljust(width)}  {item}")
        lines.extend(["", "Required settings:"])
        lines.extend(f"  - {item}" for item in self.required)
        return "\n".join(lines) + "\n"


def public_url(objects: Sequence[Mapping[str, Any]]) -> str:
    """``KC_HOSTNAME`` of the rendered Keycloak: the base of every public URL."""
    for obj in objects:
        if obj.get("kind") != "StatefulSet":
            continue
        for container in obj["spec"]["template"]["spec"].get("containers", []):
            for variable in container.get("env", []):
                if variable.get("name") == "KC_HOSTNAME" and "value" in variable:
                    return str(variable["value"]).rstrip("/")
    raise NotRendered("the render has no Keycloak StatefulSet with KC_HOSTNAME")


def rendered_client(files: Mapping[str, str], realm: str, client_id: str) -> dict[str, Any]:
    path = f"realm-{realm}.json"
    if path not in files:
        raise NotRendered(f"the render has no {path}")
    for client in json.loads(files[path]).get("clients", []):
        if client.get("clientId") == client_id:
            return dict(client)
    raise NotRendered(f"{path} has no client '{client_id}'")


def _backend_from_checkout(url: str, root: Path) -> str:
    """A relative ``file://`` backend made absolute from the checkout, as ociam reads it
    (``~`` is left to Pulumi, which expands it the same way)."""
    path = url.removeprefix("file://")
    if url == path or path.startswith(("/", "~")):
        return url
    return f"file://{(root / path).as_posix()}"


def stack_command(
    city: CityConfig, root: Path, args: str, environ: Mapping[str, str] = os.environ
) -> str:
    """``pulumi ARGS`` on the city's stack, runnable from any directory: the backend as
    ociam uses it and ``--cwd`` the checkout's absolute ``stacks/city``."""
    backend = next((environ[v] for v in BACKEND_VARIABLES if environ.get(v)), None)
    backend = _backend_from_checkout(backend or city.settings.pulumi.backend_url, root)
    project = (root / CITY_PROJECT_DIR).as_posix()
    return (
        f"PULUMI_BACKEND_URL={shlex.quote(backend)} pulumi {args} "
        f"--stack {city.stack_name} --cwd {shlex.quote(project)}"
    )


def secret_command(
    city: CityConfig, root: Path, key: str, environ: Mapping[str, str] = os.environ
) -> str:
    """The command that prints the client secret (needs the stack's passphrase)."""
    return stack_command(city, root, f"config get ociam:{key}", environ)


def _post_logout(value: str) -> list[str]:
    return ["the redirect URIs"] if value == "+" else value.split("##")


def _oidc_sheet(
    city: CityConfig, root: Path, app: OidcApplication, base: str, client: Mapping[str, Any]
) -> VendorSheet:
    issuer = f"{base}/realms/{app.realm}"
    attributes = client.get("attributes", {})
    public = bool(client.get("publicClient"))
    fields: list[tuple[str, str | list[str]]] = [
        ("Protocol", "OpenID Connect, " + ("public client" if public else "confidential client")),
        ("Issuer", issuer),
        ("Discovery URL", f"{issuer}/.well-known/openid-configuration"),
        ("Client ID", str(client["clientId"])),
    ]
    if not public:
        key = app.client_secret.pulumi_secret if app.client_secret else "?"
        fields.append(("Client secret", f"in the stack's secret config as ociam:{key}"))
        fields.append(("Secret command", secret_command(city, root, key)))
    fields += [
        ("Redirect URIs", list(client.get("redirectUris", []))),
        ("Post-logout URIs", _post_logout(attributes.get("post.logout.redirect.uris", "+"))),
        ("Web origins", list(client.get("webOrigins", []))),
        ("Scopes", "openid " + " ".join(client.get("defaultClientScopes", []))),
    ]
    required = [
        "authorization code flow (response_type=code); implicit flow and password grant are off"
    ]
    method = attributes.get("pkce.code.challenge.method")
    if method:
        required.append(f"PKCE with code_challenge_method={method} on every authorization request")
    if public:
        required.append(
            "no client secret: a public client (browser or mobile app) proves itself by PKCE only"
        )
    else:
        required.append(
            "client authentication client_secret_basic or client_secret_post; keep the secret "
            "on the server side, hand it over through a secure channel"
        )
    required.append("redirect URIs are matched exactly as listed above")
    if client.get("frontchannelLogout"):
        required.append(f"logout through the end_session_endpoint of {issuer}")
    return VendorSheet(
        title=f"{app.name or app.client_id}: {city.spec.city.names.fi}, realm {app.realm} "
        f"({city.stack_name})",
        fields=tuple(fields),
        required=tuple(required),
    )


def _saml_sheet(
    city: CityConfig, name: str, realm: str, base: str, client: Mapping[str, Any]
) -> VendorSheet:
    idp = f"{base}/realms/{realm}"
    attributes = client.get("attributes", {})
    fields: list[tuple[str, str | list[str]]] = [
        ("Protocol", "SAML 2.0, Keycloak is the identity provider"),
        ("IdP metadata URL", f"{idp}/protocol/saml/descriptor"),
        ("IdP entity ID", idp),
        ("IdP SSO URL", f"{idp}/protocol/saml (HTTP-Redirect and HTTP-POST)"),
        ("SP entity ID", str(client["clientId"])),
        ("ACS URLs", list(client.get("redirectUris", []))),
        ("NameID format", str(attributes.get("saml_name_id_format", "-"))),
    ]
    algorithm = attributes.get("saml.signature.algorithm", "RSA_SHA256")
    required = []
    if attributes.get("saml.server.signature") == "true":
        required.append(
            f"responses are signed ({algorithm}); verify them with the IdP metadata's certificate"
        )
    if attributes.get("saml.assertion.signature") == "true":
        required.append("assertions are signed too")
    if attributes.get("saml.client.signature") == "false":
        required.append(
            "AuthnRequests need not be signed: Keycloak does not check them (the catalog holds "
            "no SP certificate), so the ACS URLs above are what protects the flow"
        )
    if attributes.get("saml.encrypt") == "false":
        required.append("assertions are not encrypted (TLS protects them in transit)")
    if attributes.get("saml_force_name_id_format") == "true":
        required.append(
            f"NameID format {attributes.get('saml_name_id_format')} is forced, whatever the "
            "AuthnRequest asks"
        )
    required.append("reload the IdP metadata from its URL: Keycloak's keys rotate")
    return VendorSheet(
        title=f"{name}: {city.spec.city.names.fi}, realm {realm} ({city.stack_name})",
        fields=tuple(fields),
        required=tuple(required),
    )


def vendor_sheet(
    city: CityConfig,
    root: Path,
    index: int,
    objects: Sequence[Mapping[str, Any]],
    files: Mapping[str, str],
) -> VendorSheet:
    """The sheet for application ``index`` of the city, from the city's render; ``root``
    is the checkout (the secret command names its ``stacks/city``)."""
    app = city.spec.applications[index]
    base = public_url(objects)
    client = rendered_client(files, app.realm, app.client_id)
    if isinstance(app, OidcApplication):
        return _oidc_sheet(city, root, app, base, client)
    return _saml_sheet(city, app.name or app.client_id, app.realm, base, client)
