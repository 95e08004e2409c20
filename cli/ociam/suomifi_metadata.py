"""The SP metadata file a city uploads to Suomi.fi Palveluhallinta for its residents realm.

Everything in it comes from the same code that renders the realm: the entity ID
(:func:`ociam.realms.residents.sp_entity_id`), the broker endpoint Keycloak serves
(``/realms/residents/broker/suomifi/endpoint``, the ACS and SLO URL), and the requested
attributes, which are exactly the attribute names the realm's broker mappers import
(:func:`ociam.realms.residents.suomifi_mappers`), plus the broker's principal: the
personal identity code is the link key (Suomi.fi's NameID is transient, and Keycloak
refuses a transient NameID as principal), so it is requested always, and stored as a user
attribute only when the catalog asks for it.

Keys: Suomi.fi takes one certificate, used for both signing and encryption. It is the
certificate of ``realms.residents.suomifi.signing_key``; that is a Pulumi secret, so
offline the caller passes its public PEM (:func:`read_certificate`). A file that holds a
private key is refused without echoing any of it. Without ``signing_key`` Keycloak uses its
generated keys, two different pairs (``rsa-generated`` signs, ``rsa-enc-generated``
decrypts): no one-certificate metadata can describe them (:class:`NoSpKey`).
"""

from __future__ import annotations

import base64
import hashlib
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509

from ociam.realms import residents

if TYPE_CHECKING:
    from ociam.catalog import CityConfig
    from ociam.catalog.city import ResidentsRealm

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
XML_NS = "http://www.w3.org/XML/1998/namespace"
PROTOCOL = "urn:oasis:names:tc:SAML:2.0:protocol"
POST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
REDIRECT = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"
URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
#: friendly names of the attributes Suomi.fi releases (its technical interface description)
FRIENDLY_NAMES = {
    "urn:oid:2.5.4.42": "givenName",
    "urn:oid:2.5.4.4": "sn",
    "urn:oid:1.2.246.21": "nationalIdentificationNumber",
}
MAX_PEM_BYTES = 64 * 1024
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----(.*?)-----END \1-----", re.DOTALL)

ET.register_namespace("md", MD)
ET.register_namespace("ds", DS)


class MetadataInputError(ValueError):
    """Bad input (catalog or certificate file); the message names the file, field and why."""


class NoResidentsRealm(MetadataInputError):
    pass


class NoSpKey(MetadataInputError):
    pass


class CertificateNeeded(MetadataInputError):
    pass


@dataclass(frozen=True)
class RequestedAttribute:
    name: str
    friendly_name: str | None
    #: where the realm keeps it; None for the link key (the broker's principal) only
    user_attribute: str | None


@dataclass(frozen=True)
class SpMetadata:
    """The metadata document and what went into it."""

    entity_id: str
    acs_url: str
    slo_url: str
    attributes: tuple[RequestedAttribute, ...]
    certificate_sha256: str
    missing: tuple[str, ...]
    xml: str


def _file(city: CityConfig) -> Path:
    """The city file as the checkout names it (inventories/<env>/group_vars/<city>.yml)."""
    return city.source.relative_to(city.source.parents[3])


def broker_endpoint(public_hostname: str) -> str:
    """Keycloak's SAML broker endpoint of the residents realm (ACS and SLO)."""
    realm = residents.sp_entity_id(public_hostname)
    return f"{realm}/broker/{residents.SUOMIFI_ALIAS}/endpoint"


def residents_spec(city: CityConfig) -> ResidentsRealm:
    spec = city.spec.realms.residents
    if spec is None:
        raise NoResidentsRealm(
            f"{_file(city)}: realms.residents: the city has no residents realm, "
            "so no Suomi.fi service provider"
        )
    return spec


def requested_attributes(city: CityConfig) -> tuple[RequestedAttribute, ...]:
    """Exactly the SAML attributes the rendered realm uses: those its broker mappers
    import, then its principal (the link key) if that is an attribute they do not import."""
    settings, spec = city.settings.suomifi, residents_spec(city)
    found = []
    for mapper in residents.suomifi_mappers(settings, spec):
        config = mapper["config"]
        if "attribute.name" in config:
            name = str(config["attribute.name"])
            found.append(
                RequestedAttribute(name, FRIENDLY_NAMES.get(name), config["user.attribute"])
            )
    broker = residents.suomifi_provider(settings, city.hostnames.public)["config"]
    principal = broker.get("principalAttribute")
    if broker["principalType"] == "ATTRIBUTE" and principal not in [a.name for a in found]:
        found.append(RequestedAttribute(principal, FRIENDLY_NAMES.get(principal), None))
    return tuple(found)


def certificate_needed(city: CityConfig) -> str:
    """What the caller must give, and where it comes from (no value is ever shown)."""
    keys = residents_spec(city).suomifi.signing_key
    if keys is None:
        return no_key_message(city)
    key = keys.certificate.pulumi_secret
    return (
        f"{_file(city)}: realms.residents.suomifi.signing_key.certificate is the Pulumi "
        f"secret '{key}' of stack {city.stack_name}; offline there is no value: give its "
        f"public PEM with --certificate FILE (for example from "
        f"`pulumi config get {key} --stack {city.stack_name}`); never the private key"
    )


def no_key_message(city: CityConfig) -> str:
    return (
        f"{_file(city)}: realms.residents.suomifi.signing_key is not set: the realm then "
        "signs and decrypts with Keycloak's generated keys, two different key pairs, and "
        "Suomi.fi takes one certificate for both; set signing_key (a key pair as Pulumi "
        "secrets, docs/realms.md) and give its certificate with --certificate"
    )


def read_certificate(path: Path) -> bytes:
    """The DER bytes of the one X.509 certificate in PEM file ``path``.

    Refuses (without showing any of it) a file that holds a private key, more or fewer than
    one certificate, or something that does not parse as X.509.
    """
    try:
        raw = path.read_bytes()[: MAX_PEM_BYTES + 1]
    except OSError as exc:
        raise MetadataInputError(
            f"{path}: --certificate: cannot read: {exc.strerror or exc}"
        ) from None
    if len(raw) > MAX_PEM_BYTES:
        raise MetadataInputError(f"{path}: --certificate: larger than {MAX_PEM_BYTES} bytes")
    text = raw.decode("ascii", errors="replace")
    blocks = _PEM_BLOCK.findall(text)
    if any("PRIVATE KEY" in kind for kind, _ in blocks) or "PRIVATE KEY-----" in text:
        raise MetadataInputError(
            f"{path}: --certificate: the file holds a private key; give only the "
            "certificate (the key stays in the Pulumi secret; nothing of it was printed)"
        )
    certificates = [body for kind, body in blocks if kind == "CERTIFICATE"]
    if len(certificates) != 1:
        raise MetadataInputError(
            f"{path}: --certificate: expected one PEM CERTIFICATE block, found "
            f"{len(certificates)} (Suomi.fi takes one certificate)"
        )
    try:
        der = base64.b64decode("".join(certificates[0].split()), validate=True)
        x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise MetadataInputError(
            f"{path}: --certificate: not an X.509 certificate: {exc}"
        ) from None
    return der


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    element = ET.SubElement(parent, tag, attrs)
    if text is not None:
        element.text = text
    return element


def _key_descriptor(sp: ET.Element, der: bytes) -> None:
    # no `use`: the one certificate serves both signing and encryption (SAML metadata 2.4.1.1)
    descriptor = _sub(sp, f"{{{MD}}}KeyDescriptor")
    key_info = _sub(descriptor, f"{{{DS}}}KeyInfo")
    data = _sub(key_info, f"{{{DS}}}X509Data")
    _sub(data, f"{{{DS}}}X509Certificate", base64.b64encode(der).decode("ascii"))


def _service_names(city: CityConfig, spec: ResidentsRealm) -> list[tuple[str, str]]:
    names = city.spec.city.names
    if spec.display_name:
        return [("fi", spec.display_name)]
    found = [("fi", f"{names.fi}: asiointi")]
    if names.sv:
        found.append(("sv", f"{names.sv}: e-tjänster"))
    return found


def build(city: CityConfig, certificate_der: bytes) -> SpMetadata:
    """The SP metadata of ``city``'s residents realm with the one ``certificate_der``."""
    spec = residents_spec(city)
    if spec.suomifi.signing_key is None:
        raise NoSpKey(no_key_message(city))
    if spec.suomifi.separate_encryption_key:
        raise MetadataInputError(
            f"{_file(city)}: realms.residents.suomifi.separate_encryption_key: true needs two "
            "certificates in the metadata, which Suomi.fi does not take; this command writes "
            "the one-certificate file only"
        )
    host = city.hostnames.public
    entity_id = residents.sp_entity_id(host)
    endpoint = broker_endpoint(host)
    attributes = requested_attributes(city)

    root = ET.Element(f"{{{MD}}}EntityDescriptor", {"entityID": entity_id})
    sp = _sub(
        root,
        f"{{{MD}}}SPSSODescriptor",
        AuthnRequestsSigned="true",
        WantAssertionsSigned="true",
        protocolSupportEnumeration=PROTOCOL,
    )
    _key_descriptor(sp, certificate_der)
    for binding in (POST, REDIRECT):
        _sub(sp, f"{{{MD}}}SingleLogoutService", Binding=binding, Location=endpoint)
    _sub(sp, f"{{{MD}}}NameIDFormat", TRANSIENT)
    _sub(
        sp,
        f"{{{MD}}}AssertionConsumerService",
        Binding=POST,
        Location=endpoint,
        index="1",
        isDefault="true",
    )
    service = _sub(sp, f"{{{MD}}}AttributeConsumingService", index="1", isDefault="true")
    for lang, name in _service_names(city, spec):
        _sub(service, f"{{{MD}}}ServiceName", name, **{f"{{{XML_NS}}}lang": lang})
    for attribute in attributes:
        attrs = {"Name": attribute.name, "NameFormat": URI_FORMAT}
        if attribute.friendly_name:
            attrs["FriendlyName"] = attribute.friendly_name
        _sub(service, f"{{{MD}}}RequestedAttribute", **attrs, isRequired="true")
    ET.indent(root, space="  ")
    text = ET.tostring(root, encoding="unicode", xml_declaration=False)
    missing = (
        "Organization: the catalog has the city's names but no web address "
        "(OrganizationURL is required); enter the organisation in Palveluhallinta",
        "ContactPerson: the catalog has no contact e-mail (owners are code-host handles); "
        "enter the technical and support contacts in Palveluhallinta",
    )
    return SpMetadata(
        entity_id=entity_id,
        acs_url=endpoint,
        slo_url=endpoint,
        attributes=attributes,
        certificate_sha256=hashlib.sha256(certificate_der).hexdigest(),
        missing=missing,
        xml='<?xml version="1.0" encoding="UTF-8"?>\n' + text + "\n",
    )
