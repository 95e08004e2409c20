"""A Suomi.fi e-Identification stand-in: a second Keycloak realm acting as SAML IdP.

It is a real SAML implementation (Keycloak's SAML protocol), not a hand-written responder,
and it is set up the way Suomi.fi treats a service provider:

- its client is created **from the SP metadata file** that ``ociam suomifi-metadata``
  generated, by Keycloak's own converter (``client-description-converter``): entity ID,
  ACS and SLO URLs, NameID format, signed assertions;
- Suomi.fi reads the metadata's one ``KeyDescriptor`` (no ``use``: signing and encryption)
  for both uses. Keycloak's converter only reads a ``KeyDescriptor`` that names its use, so
  the stand-in puts that certificate in both places itself: AuthnRequests must carry a
  valid signature by it (``AuthnRequestsSigned``) and assertions are encrypted to it;
- responses and assertions signed (RSA-SHA256), transient NameID forced;
- attributes as Suomi.fi sends them (URI names, NameFormat ``uri``), and **only** those the
  metadata's ``RequestedAttribute`` elements ask for: one protocol mapper per requested
  name, none else (Keycloak's default SAML client scopes, such as the role list, removed).

Its resident holds every attribute Suomi.fi could release, the personal identity code
included, so that what reaches the city's realm is decided by the metadata alone.
"""

from __future__ import annotations

import base64
import datetime
import secrets
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from tests.keycloak.admin import KeycloakAdmin
from tests.keycloak.gateway import Route

REALM = "suomifi-standin"
MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
URI_FORMAT = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
#: the stand-in user's field behind each attribute Suomi.fi releases: (mapper, source)
SUOMIFI_ATTRIBUTES: dict[str, tuple[str, str]] = {
    "urn:oid:2.5.4.42": ("saml-user-property-mapper", "firstName"),  # givenName
    "urn:oid:2.5.4.4": ("saml-user-property-mapper", "lastName"),  # sn
    "urn:oid:1.2.246.21": ("saml-user-attribute-mapper", "nationalIdentificationNumber"),
}


def sp_key_pair(name: str = "demo residents SP") -> tuple[bytes, bytes]:
    """A fresh RSA key and self-signed certificate (PEM) for the SP, made per test run
    (the test preset accepts self-signed certificates)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=2))
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class Resident:
    """A person as the population register knows them."""

    username: str
    password: str
    given_name: str
    family_name: str
    personal_identity_code: str


def test_resident() -> Resident:
    """A resident with a valid-looking test identity code (9xx: the test range)."""
    number = 900 + secrets.randbelow(100)
    check = "0123456789ABCDEFHJKLMNPRSTUVWXY"[int(f"010190{number}") % 31]
    return Resident(
        username=f"resident-{secrets.token_hex(4)}",
        password=secrets.token_urlsafe(18),
        given_name="Aada",
        family_name="Asukas",
        personal_identity_code=f"010190-{number}{check}",
    )


test_resident.__test__ = False  # type: ignore[attr-defined]


@dataclass(frozen=True)
class RequestedAttribute:
    name: str
    name_format: str
    friendly_name: str | None


@dataclass(frozen=True)
class SpMetadata:
    """What the stand-in reads from the SP metadata file, as Suomi.fi would."""

    xml: str
    entity_id: str
    certificate_pem: str
    authn_requests_signed: bool
    attributes: tuple[RequestedAttribute, ...]

    @classmethod
    def parse(cls, xml: str) -> SpMetadata:
        root = ET.fromstring(xml)
        (sp,) = root.findall(f"{{{MD}}}SPSSODescriptor")
        descriptors = sp.findall(f"{{{MD}}}KeyDescriptor")
        if len(descriptors) != 1:
            raise AssertionError(f"Suomi.fi takes one certificate, the metadata has {descriptors}")
        (value,) = descriptors[0].iter(f"{{{DS}}}X509Certificate")
        der = base64.b64decode("".join((value.text or "").split()))
        body = base64.encodebytes(der).decode("ascii")
        attributes = tuple(
            RequestedAttribute(a.get("Name", ""), a.get("NameFormat", ""), a.get("FriendlyName"))
            for a in sp.iter(f"{{{MD}}}RequestedAttribute")
        )
        return cls(
            xml=xml,
            entity_id=root.get("entityID", ""),
            certificate_pem=f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n",
            authn_requests_signed=sp.get("AuthnRequestsSigned") == "true",
            attributes=attributes,
        )


@dataclass(frozen=True)
class SuomiFiStandIn:
    realm: str
    public_host: str
    resident: Resident

    @property
    def entity_id(self) -> str:
        """The IdP's entity ID: Keycloak's realm issuer on the city's public host."""
        return f"https://{self.public_host}/realms/{self.realm}"

    @property
    def sso_url(self) -> str:
        return f"https://{self.public_host}/realms/{self.realm}/protocol/saml"

    @property
    def metadata_url_in_pod(self) -> str:
        """Where the city's Keycloak reads the IdP metadata: its own HTTP listener (the
        pod has no route to its public https URL, which only the gateway serves)."""
        return f"http://localhost:8080/realms/{self.realm}/protocol/saml/descriptor"

    def route(self) -> Route:
        """The test's own route for the stand-in on the public host (no render has it)."""
        return Route((self.public_host,), (("PathPrefix", f"/realms/{self.realm}/"),))

    def catalog_settings(self, preset: str) -> dict[str, Any]:
        """``suomifi:`` of ``group_vars/all.yml`` pointing the city's broker here."""
        return {
            "preset": preset,
            "metadata_urls": {preset: self.metadata_url_in_pod},
            "idp_endpoints": {
                preset: {
                    "entity_id": self.entity_id,
                    "single_sign_on_url": self.sso_url,
                    "single_logout_url": self.sso_url,
                }
            },
        }


def create_standin(admin: KeycloakAdmin, public_host: str, resident: Resident) -> SuomiFiStandIn:
    """(Re)create the stand-in realm (its own generated signing keys) and its resident."""
    if admin.realm_exists(REALM):
        admin.delete(f"/{REALM}")
    admin.post(
        "",
        {
            "realm": REALM,
            "enabled": True,
            "bruteForceProtected": True,
            "eventsEnabled": False,
            "loginWithEmailAllowed": False,
        },
    )
    # the register's data are attributes of the person, not of a Keycloak profile form
    profile = admin.get(f"/{REALM}/users/profile")
    admin.put(f"/{REALM}/users/profile", {**profile, "unmanagedAttributePolicy": "ENABLED"})
    admin.post(
        f"/{REALM}/users",
        {
            "username": resident.username,
            "enabled": True,
            "firstName": resident.given_name,
            "lastName": resident.family_name,
            "email": f"{resident.username}@standin.example",
            "emailVerified": True,
            "attributes": {"nationalIdentificationNumber": [resident.personal_identity_code]},
            "credentials": [{"type": "password", "value": resident.password, "temporary": False}],
        },
    )
    return SuomiFiStandIn(REALM, public_host, resident)


def _mapper(attribute: RequestedAttribute) -> dict[str, Any]:
    if attribute.name not in SUOMIFI_ATTRIBUTES:
        raise AssertionError(f"Suomi.fi releases no attribute {attribute.name}")
    if attribute.name_format != URI_FORMAT:
        raise AssertionError(f"{attribute.name}: NameFormat {attribute.name_format}, not uri")
    mapper, source = SUOMIFI_ATTRIBUTES[attribute.name]
    config = {
        "attribute.name": attribute.name,
        "attribute.nameformat": "URI Reference",
        "friendly.name": attribute.friendly_name or "",
        "user.attribute": source,
    }
    return {"name": attribute.name, "protocol": "saml", "protocolMapper": mapper, "config": config}


def trust_sp_metadata(admin: KeycloakAdmin, standin: SuomiFiStandIn, xml: str) -> dict[str, Any]:
    """The SP's client, made from its metadata file as Suomi.fi takes it in; returns it."""
    metadata = SpMetadata.parse(xml)
    converted = admin.call(
        "POST",
        f"/{standin.realm}/client-description-converter",
        data=xml.encode("utf-8"),
        headers={"Content-Type": "text/plain"},
    ).json()
    if converted.get("clientId") != metadata.entity_id:
        raise AssertionError(f"converter read {converted.get('clientId')}, not the entity ID")
    existing = admin.get(f"/{standin.realm}/clients", params={"clientId": metadata.entity_id})
    for client in existing:
        admin.delete(f"/{standin.realm}/clients/{client['id']}")
    pem_body = "".join(metadata.certificate_pem.splitlines()[1:-1])
    attributes = {
        **converted.get("attributes", {}),
        # Suomi.fi: signed responses and assertions, encrypted assertions, transient NameID
        "saml.server.signature": "true",
        "saml.assertion.signature": "true",
        "saml.signature.algorithm": "RSA_SHA256",
        "saml_signature_canonicalization_method": "http://www.w3.org/2001/10/xml-exc-c14n#",
        "saml.force.name.id.format": "true",
        "saml_name_id_format": "transient",
        # the one KeyDescriptor, for both uses
        "saml.client.signature": str(metadata.authn_requests_signed).lower(),
        "saml.signing.certificate": pem_body,
        "saml.encrypt": "true",
        "saml.encryption.certificate": pem_body,
        "saml.force.post.binding": "true",
        "saml.authnstatement": "true",
    }
    client = {
        **converted,
        "enabled": True,
        "frontchannelLogout": True,
        "fullScopeAllowed": False,
        "attributes": attributes,
        "protocolMappers": [_mapper(a) for a in metadata.attributes],
    }
    admin.post(f"/{standin.realm}/clients", client)
    (created,) = admin.get(f"/{standin.realm}/clients", params={"clientId": metadata.entity_id})
    # no attribute beyond the requested ones: drop the default SAML scopes (role list, ...)
    for scope in admin.get(f"/{standin.realm}/clients/{created['id']}/default-client-scopes"):
        admin.delete(
            f"/{standin.realm}/clients/{created['id']}/default-client-scopes/{scope['id']}"
        )
    for scope in admin.get(f"/{standin.realm}/clients/{created['id']}/optional-client-scopes"):
        admin.delete(
            f"/{standin.realm}/clients/{created['id']}/optional-client-scopes/{scope['id']}"
        )
    result: dict[str, Any] = admin.get(f"/{standin.realm}/clients/{created['id']}")
    return result
