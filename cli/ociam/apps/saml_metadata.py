"""A service provider's SAML metadata file: what the catalog needs from it.

The entity ID (the client id), the assertion consumer service URLs (the
redirect URIs, HTTP-POST first), whether the SP wants signed assertions and its
NameID format. The file comes from a vendor, so it is read defensively: at most
:data:`MAX_BYTES`, no DOCTYPE (no entities, hence no expansion bombs or external
fetches), one EntityDescriptor with one SPSSODescriptor.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

MAX_BYTES = 512 * 1024
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
POST_BINDING = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
#: bindings Keycloak sends responses by (HTTP-Artifact and PAOS endpoints are left out)
RESPONSE_BINDINGS = (POST_BINDING, "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect")
#: NameID formats of the metadata → name_id_format of the catalog
NAME_ID_FORMATS = {
    "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent": "persistent",
    "urn:oasis:names:tc:SAML:2.0:nameid-format:transient": "transient",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress": "email",
    "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified": "username",
}


class MetadataError(ValueError):
    """The metadata file cannot be used (the message names the file and why)."""


@dataclass(frozen=True)
class SpMetadata:
    entity_id: str
    acs_urls: tuple[str, ...]
    want_assertions_signed: bool
    authn_requests_signed: bool
    name_id_format: str | None
    has_signing_certificate: bool


def _flag(element: ET.Element, name: str) -> bool:
    return element.get(name, "false").strip().lower() in ("true", "1")


def parse(text: str, source: str) -> SpMetadata:
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise MetadataError(f"{source}: DOCTYPE and entities are not allowed in metadata")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise MetadataError(f"{source}: not XML: {exc}") from None
    if root.tag == f"{{{MD}}}EntitiesDescriptor":
        found = root.findall(f"{{{MD}}}EntityDescriptor")
        if len(found) != 1:
            raise MetadataError(f"{source}: {len(found)} entities; give the one application's")
        root = found[0]
    if root.tag != f"{{{MD}}}EntityDescriptor":
        raise MetadataError(f"{source}: no SAML 2.0 EntityDescriptor")
    entity_id = (root.get("entityID") or "").strip()
    if not entity_id:
        raise MetadataError(f"{source}: EntityDescriptor has no entityID")
    descriptors = root.findall(f"{{{MD}}}SPSSODescriptor")
    if len(descriptors) != 1:
        raise MetadataError(f"{source}: expected one SPSSODescriptor, found {len(descriptors)}")
    sp = descriptors[0]
    services = [
        s
        for s in sp.findall(f"{{{MD}}}AssertionConsumerService")
        if s.get("Binding") in RESPONSE_BINDINGS
    ]
    ordered = sorted(
        services,
        key=lambda s: (s.get("Binding") != POST_BINDING, int(s.get("index", "0") or 0)),
    )
    urls = tuple(dict.fromkeys(s.get("Location", "").strip() for s in ordered if s.get("Location")))
    if not urls:
        raise MetadataError(f"{source}: no HTTP-POST or HTTP-Redirect AssertionConsumerService")
    formats = [(f.text or "").strip() for f in sp.findall(f"{{{MD}}}NameIDFormat")]
    known = [NAME_ID_FORMATS[f] for f in formats if f in NAME_ID_FORMATS]
    signing = [
        k for k in sp.findall(f"{{{MD}}}KeyDescriptor") if k.get("use") in (None, "", "signing")
    ]
    return SpMetadata(
        entity_id=entity_id,
        acs_urls=urls,
        want_assertions_signed=_flag(sp, "WantAssertionsSigned"),
        authn_requests_signed=_flag(sp, "AuthnRequestsSigned"),
        name_id_format=known[0] if known else None,
        has_signing_certificate=bool(signing),
    )


def read(path: Path) -> SpMetadata:
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_BYTES + 1)
    except OSError as exc:
        raise MetadataError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise MetadataError(f"{path}: larger than {MAX_BYTES // 1024} KiB; not SP metadata")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise MetadataError(f"{path}: not UTF-8 text") from None
    return parse(text, str(path))
