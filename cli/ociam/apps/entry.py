"""A new application as a catalog entry of ``applications:`` (what ``ociam app add`` writes).

OIDC applications get the client id from ``--client-id`` or from the name
(``Päiväkoti / Daghem`` → ``paivakoti-daghem``); a confidential one gets a
``client_secret`` reference ``<clientIdInCamelCase>ClientSecret`` in the stack's
secret config. SAML applications take their entity ID and assertion consumer
URLs from the service provider's metadata, or from ``--client-id`` and
``--redirect-uri``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from ociam.apps.saml_metadata import SpMetadata
from ociam.catalog.city import RealmName

Protocol = Literal["oidc", "saml"]
PROTOCOLS: dict[Protocol, str] = {"oidc": "openid-connect", "saml": "saml"}


class EntryError(ValueError):
    """The options do not describe an application (the message names the option)."""


@dataclass(frozen=True)
class NewApplication:
    """What ``ociam app add`` was asked for."""

    realm: RealmName
    name: str
    protocol: Protocol
    redirect_uris: Sequence[str] = ()
    public: bool = False
    client_id: str | None = None
    web_origins: Sequence[str] = ()
    post_logout_redirect_uris: Sequence[str] = ()
    metadata: SpMetadata | None = None
    taken_secret_keys: frozenset[str] = field(default_factory=frozenset)


def slug_of(name: str) -> str:
    """ASCII, lower case, hyphens: a client id people can read."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def secret_key_of(client_id: str, taken: Iterable[str]) -> str:
    """``asiointi-app`` → ``asiointiAppClientSecret`` (numbered if the key is taken)."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", slug_of(client_id)) if w]
    if not words:
        words = ["app"]
    if words[0][0].isdigit():
        words.insert(0, "app")
    base = words[0] + "".join(w.capitalize() for w in words[1:]) + "ClientSecret"
    used = set(taken)
    key, number = base, 2
    while key in used:
        key, number = f"{base}{number}", number + 1
    return key


def origin_of(uri: str) -> str:
    parts = urlsplit(uri)
    return f"{parts.scheme}://{parts.netloc}"


def _quoted(values: Iterable[str]) -> CommentedSeq:
    return CommentedSeq(DoubleQuotedScalarString(v) for v in values)


def _oidc(request: NewApplication) -> CommentedMap:
    if request.metadata is not None:
        raise EntryError("--saml-metadata: only with --protocol saml")
    if not request.redirect_uris:
        raise EntryError("--redirect-uri: an OIDC application needs at least one")
    client_id = request.client_id or slug_of(request.name)
    if not client_id:
        raise EntryError("--name: gives no client id (no letters or digits); add --client-id")
    entry = CommentedMap()
    entry["protocol"] = PROTOCOLS["oidc"]
    entry["client_id"] = client_id
    entry["name"] = request.name
    entry["realm"] = request.realm
    entry["access_type"] = "public" if request.public else "confidential"
    entry["redirect_uris"] = _quoted(request.redirect_uris)
    if request.post_logout_redirect_uris:
        entry["post_logout_redirect_uris"] = _quoted(request.post_logout_redirect_uris)
    origins = request.web_origins or dict.fromkeys(origin_of(u) for u in request.redirect_uris)
    entry["web_origins"] = _quoted(origins)
    if not request.public:
        secret = CommentedMap()
        secret["pulumi_secret"] = secret_key_of(client_id, request.taken_secret_keys)
        secret.fa.set_flow_style()
        entry["client_secret"] = secret
    return entry


def _saml(request: NewApplication) -> CommentedMap:
    if request.public:
        raise EntryError("--public: only for OIDC applications")
    if request.web_origins or request.post_logout_redirect_uris:
        raise EntryError("--web-origin and --post-logout-uri: only for OIDC applications")
    metadata = request.metadata
    client_id = request.client_id or (metadata.entity_id if metadata else None)
    if client_id is None:
        raise EntryError("--saml-metadata FILE (or --client-id ENTITY-ID) is needed for SAML")
    if metadata is not None and request.client_id and request.client_id != metadata.entity_id:
        raise EntryError(
            f"--client-id {request.client_id} differs from the metadata's entityID "
            f"{metadata.entity_id}"
        )
    uris = list(request.redirect_uris) or list(metadata.acs_urls if metadata else ())
    if not uris:
        raise EntryError("--redirect-uri: a SAML application needs its assertion consumer URL")
    entry = CommentedMap()
    entry["protocol"] = PROTOCOLS["saml"]
    entry["client_id"] = DoubleQuotedScalarString(client_id)
    entry["name"] = request.name
    entry["realm"] = request.realm
    entry["redirect_uris"] = _quoted(uris)
    if metadata is not None and metadata.name_id_format not in (None, "persistent"):
        entry["name_id_format"] = metadata.name_id_format
    return entry


def build_entry(request: NewApplication) -> CommentedMap:
    """The entry as it goes into the city file (round-trip types keep the file's quoting)."""
    if not request.name.strip():
        raise EntryError("--name: must not be empty")
    return _oidc(request) if request.protocol == "oidc" else _saml(request)
