"""The residents realm: Suomi.fi e-Identification as the only way in."""

from __future__ import annotations

from typing import Any

from ociam.catalog.city import KeyPairRef, ResidentsRealm
from ociam.catalog.environment import SuomiFiSettings
from ociam.realms.flows import Flow, FlowSet, Step, create_account_steps
from ociam.realms.placeholders import SecretBinding

JsonObject = dict[str, Any]

REALM = "residents"
SUOMIFI_ALIAS = "suomifi"
BROWSER_FLOW = "residents browser"
FIRST_BROKER_FLOW = "residents first broker login"
KEY_PROVIDER_TYPE = "org.keycloak.keys.KeyProvider"
PERSONAL_IDENTITY_CODE = "personalIdentityCode"
SAML_URI = "ATTRIBUTE_FORMAT_URI"
#: above the realm's generated keys (priority 100), so Keycloak signs with the SP key
SP_KEY_PRIORITY = "200"


def sp_entity_id(public_hostname: str) -> str:
    """Unique per city and realm: the realm's issuer URL on the public hostname."""
    return f"https://{public_hostname}/realms/{REALM}"


def suomifi_provider(settings: SuomiFiSettings, public_hostname: str) -> JsonObject:
    """The SAML broker for the environment's preset: signed requests, signed and encrypted
    assertions, certificates reloaded from the metadata URL (they rotate)."""
    preset = settings.preset
    endpoints = settings.idp_endpoints[preset]
    post_request = settings.request_binding == "post"
    return {
        "alias": SUOMIFI_ALIAS,
        "displayName": "Suomi.fi-tunnistus",
        "providerId": "saml",
        "enabled": True,
        "trustEmail": False,
        "storeToken": False,
        "addReadTokenRoleOnCreate": False,
        "linkOnly": False,
        "hideOnLogin": False,
        "firstBrokerLoginFlowAlias": FIRST_BROKER_FLOW,
        "config": {
            "entityId": sp_entity_id(public_hostname),
            "idpEntityId": endpoints.entity_id,
            "singleSignOnServiceUrl": endpoints.single_sign_on_url,
            "singleLogoutServiceUrl": endpoints.single_logout_url,
            "metadataDescriptorUrl": settings.metadata_urls[preset],
            "useMetadataDescriptorUrl": "true",
            # Suomi.fi's NameID is transient (and Keycloak refuses a transient NameID as
            # principal): the identity code is the stable link key, requested always
            "nameIDPolicyFormat": "urn:oasis:names:tc:SAML:2.0:nameid-format:transient",
            "principalType": "ATTRIBUTE",
            "principalAttribute": settings.attributes.personal_identity_code,
            "postBindingAuthnRequest": str(post_request).lower(),
            "postBindingResponse": "true",
            "postBindingLogout": str(post_request).lower(),
            "wantAuthnRequestsSigned": "true",
            "signatureAlgorithm": "RSA_SHA256",
            "xmlSigKeyInfoKeyNameTransformer": "KEY_ID",
            "wantAssertionsSigned": "true",
            "wantAssertionsEncrypted": "true",
            "validateSignature": "true",
            "signSpMetadata": "true",
            "forceAuthn": "false",
            "allowCreate": "true",
            "backchannelSupported": "false",
            "allowedClockSkew": "30",
            "syncMode": "FORCE",
        },
    }


def suomifi_mappers(settings: SuomiFiSettings, spec: ResidentsRealm) -> list[JsonObject]:
    """Random username, names from the population register, the identity code if asked."""
    names = settings.attributes

    def importer(name: str, attribute: str, user_attribute: str) -> JsonObject:
        return {
            "name": name,
            "identityProviderAlias": SUOMIFI_ALIAS,
            "identityProviderMapper": "saml-user-attribute-idp-mapper",
            "config": {
                "attribute.name": attribute,
                "attribute.name.format": SAML_URI,
                "user.attribute": user_attribute,
                "syncMode": "FORCE",
            },
        }

    mappers = [
        {
            "name": "username",
            "identityProviderAlias": SUOMIFI_ALIAS,
            "identityProviderMapper": "saml-username-idp-mapper",
            # never the identity code as username: a random one, set once
            "config": {"template": "${ALIAS}.${UUID}", "target": "LOCAL", "syncMode": "IMPORT"},
        },
        {
            "name": "broker username",
            "identityProviderAlias": SUOMIFI_ALIAS,
            "identityProviderMapper": "saml-username-idp-mapper",
            # the name the link and the login events record (else the identity code,
            # the principal, would be in every event's identity_provider_identity)
            "config": {
                "template": "${ALIAS}.${UUID}",
                "target": "BROKER_USERNAME",
                "syncMode": "FORCE",
            },
        },
        importer("given name", names.given_name, "firstName"),
        importer("family name", names.family_name, "lastName"),
    ]
    if spec.suomifi.request_personal_identity_code:
        mappers.append(
            importer("personal identity code", names.personal_identity_code, PERSONAL_IDENTITY_CODE)
        )
    return mappers


def _key_component(
    name: str, keys: KeyPairRef, use: str, algorithm: str
) -> tuple[JsonObject, list[SecretBinding]]:
    private, cert = SecretBinding.of(keys.private_key), SecretBinding.of(keys.certificate)
    component = {
        "name": name,
        "providerId": "rsa" if use == "sig" else "rsa-enc",
        "subComponents": {},
        "config": {
            "priority": [SP_KEY_PRIORITY],
            "enabled": ["true"],
            "active": ["true"],
            "algorithm": [algorithm],
            "privateKey": [private.placeholder],
            "certificate": [cert.placeholder],
        },
    }
    return component, [private, cert]


def sp_key_components(spec: ResidentsRealm) -> tuple[list[JsonObject], list[SecretBinding]]:
    """The SP key pair(s) registered in Suomi.fi: one pair for signing and decryption
    (Suomi.fi takes one certificate), or two when ``separate_encryption_key``."""
    suomifi = spec.suomifi
    if suomifi.signing_key is None:
        return [], []
    encryption = suomifi.encryption_key or suomifi.signing_key
    sig, sig_secrets = _key_component("suomifi-sp-signing", suomifi.signing_key, "sig", "RS256")
    enc, enc_secrets = _key_component("suomifi-sp-encryption", encryption, "enc", "RSA-OAEP")
    return [sig, enc], sorted(set(sig_secrets + enc_secrets))


def resident_flows() -> FlowSet:
    """Straight to Suomi.fi; the first login creates the account, never links to another."""
    flows = FlowSet()
    flows.add(
        Flow(
            alias=BROWSER_FLOW,
            description="Existing session, or straight to Suomi.fi e-Identification",
            steps=(
                Step("ALTERNATIVE", authenticator="auth-cookie"),
                Step(
                    "ALTERNATIVE",
                    authenticator="identity-provider-redirector",
                    config_alias="residents to suomifi",
                    config={"defaultProvider": SUOMIFI_ALIAS},
                ),
            ),
        )
    )
    flows.add(
        Flow(
            alias=FIRST_BROKER_FLOW,
            description="First Suomi.fi login: create the resident's account; no review "
            "form (names come from the population register), no linking by e-mail",
            steps=create_account_steps(REALM),
        )
    )
    return flows


def _attribute(
    name: str, display: str, view: list[str], edit: list[str], validations: dict[str, Any]
) -> JsonObject:
    return {
        "name": name,
        "displayName": display,
        "validations": validations,
        "permissions": {"view": view, "edit": edit},
        "multivalued": False,
    }


def user_profile(spec: ResidentsRealm) -> JsonObject:
    """Residents have no required e-mail; names are read-only for them; the identity code,
    when mapped at all, is visible to administrators only."""
    name_rules = {"length": {"max": 255}, "person-name-prohibited-characters": {}}
    attributes = [
        _attribute(
            "username",
            "${username}",
            ["admin", "user"],
            ["admin"],
            {
                "length": {"min": 3, "max": 255},
                "username-prohibited-characters": {},
                "up-username-not-idn-homograph": {},
            },
        ),
        _attribute(
            "email",
            "${email}",
            ["admin", "user"],
            ["admin", "user"],
            {"email": {}, "length": {"max": 255}},
        ),
        _attribute("firstName", "${firstName}", ["admin", "user"], ["admin"], name_rules),
        _attribute("lastName", "${lastName}", ["admin", "user"], ["admin"], name_rules),
    ]
    if spec.suomifi.request_personal_identity_code:
        attributes.append(
            _attribute(
                PERSONAL_IDENTITY_CODE,
                "Henkilötunnus",
                ["admin"],
                ["admin"],
                {"length": {"min": 11, "max": 11}},
            )
        )
    return {
        "attributes": attributes,
        "groups": [
            {
                "name": "user-metadata",
                "displayHeader": "User metadata",
                "displayDescription": "Attributes, which refer to user metadata",
            }
        ],
    }
