"""Residents log in through Suomi.fi e-Identification (a stand-in realm, see
suomifi_standin.py) to the demo city's residents application, the way a browser does.

The stand-in trusts the SP metadata file ``ociam suomifi-metadata`` generated from the
same scratch catalog the realm is rendered from; the SP key pair is made per run and
handed to the realm as the Pulumi secrets ``signing_key`` names.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.keycloak.admin import AdminError
from tests.keycloak.deployment import SUBSTITUTED_SECRET
from tests.logins.city import CITY, ENV, LoginCity, secret_env
from tests.logins.resident_login import (
    DS,
    SAML,
    SAMLP,
    XENC,
    SamlTrace,
    decrypt_assertion,
    resident_login,
)
from tests.logins.suomifi_standin import (
    URI_FORMAT,
    Resident,
    SuomiFiStandIn,
    create_standin,
    sp_key_pair,
    test_resident,
    trust_sp_metadata,
)

pytestmark = pytest.mark.logins

APP = "asiointi"
KEY_REF, CERT_REF = "suomifiSpKey", "suomifiSpCertificate"
PIC_OID, GIVEN_OID, SN_OID = "urn:oid:1.2.246.21", "urn:oid:2.5.4.42", "urn:oid:2.5.4.4"
TRANSIENT = "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"


@dataclass
class Residents:
    city: LoginCity
    standin: SuomiFiStandIn
    resident: Resident
    metadata: str
    work: Path
    sp_key: bytes

    @property
    def redirect_uri(self) -> str:
        (app,) = [
            a for a in self.city.realm_document("residents")["clients"] if a["clientId"] == APP
        ]
        return str(app["redirectUris"][0])


def _edit_all(city: LoginCity, standin: SuomiFiStandIn) -> None:
    import yaml

    path = city.checkout / "inventories" / ENV / "group_vars" / "all.yml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["suomifi"] = standin.catalog_settings(document["suomifi"]["preset"])
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def suomifi_metadata(city: LoginCity, certificate: Path, out: Path) -> str:
    """``ociam suomifi-metadata`` on the scratch catalog, as a platform engineer runs it."""
    result = city.ociam(
        *("suomifi-metadata", "--env", ENV, "--city", CITY),
        *("--certificate", str(certificate), "--out", str(out)),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out.read_text(encoding="utf-8")


def configure(residents: Residents, *, identity_code: bool) -> None:
    """The city file asks (or not) for the identity code: render, apply, regenerate the
    SP metadata and hand it to Suomi.fi (the stand-in), as a city would."""
    city = residents.city

    def change(document: dict[str, Any]) -> None:
        document["realms"]["residents"]["suomifi"] = {
            "request_personal_identity_code": identity_code,
            "signing_key": {
                "private_key": {"pulumi_secret": KEY_REF},
                "certificate": {"pulumi_secret": CERT_REF},
            },
        }

    city.edit_city(change)
    city.rerender()
    try:
        city.apply_realm("residents")
    except AdminError as exc:
        errors = [line for line in city.pod.logs("keycloak").splitlines() if "ERROR" in line]
        raise AssertionError(f"{exc}\nKeycloak's errors:\n" + "\n".join(errors[-20:])) from None
    out = residents.work / f"sp-metadata-{identity_code}.xml"
    residents.metadata = suomifi_metadata(city, residents.work / "sp.crt", out)
    trust_sp_metadata(city.admin(), residents.standin, residents.metadata)


@pytest.fixture(scope="module")
def residents(
    login_city: LoginCity, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Residents]:
    work = tmp_path_factory.mktemp("residents")
    resident = test_resident()
    standin = create_standin(login_city.admin(), login_city.public_host, resident)
    key_pem, cert_pem = sp_key_pair()
    (work / "sp.crt").write_bytes(cert_pem)
    login_city.values.values[(SUBSTITUTED_SECRET, secret_env(KEY_REF))] = key_pem.decode()
    login_city.values.values[(SUBSTITUTED_SECRET, secret_env(CERT_REF))] = cert_pem.decode()
    _edit_all(login_city, standin)
    yield Residents(login_city, standin, resident, "", work, key_pem)


def login(residents: Residents) -> tuple[Any, SamlTrace]:
    browser = residents.city.browser(extra_routes=[residents.standin.route()])
    return resident_login(
        browser,
        issuer=residents.city.issuer("residents"),
        client_id=APP,
        redirect_uri=residents.redirect_uri,
        username=residents.resident.username,
        password=residents.resident.password,
    )


def _the_user(residents: Residents) -> tuple[dict[str, Any], dict[str, Any]]:
    """The one resident account, and its link to Suomi.fi."""
    admin = residents.city.admin()
    users = admin.get("/residents/users", params={"briefRepresentation": "false"})
    assert len(users) == 1, users
    user: dict[str, Any] = users[0]
    (link,) = admin.get(f"/residents/users/{user['id']}/federated-identity")
    return user, link


def _events(residents: Residents) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = residents.city.admin().get(
        "/residents/events", params={"max": "500"}
    )
    return found


def check_response_signed_and_encrypted(trace: SamlTrace, residents: Residents) -> None:
    response = trace.response_xml()
    assert response.tag == f"{{{SAMLP}}}Response"
    assert response.find(f"{{{DS}}}Signature") is not None, "response not signed"
    encrypted = response.findall(f"{{{SAML}}}EncryptedAssertion")
    assert len(encrypted) == 1, "assertion not encrypted"
    assert encrypted[0].find(f".//{{{XENC}}}EncryptedData") is not None
    assert response.find(f"{{{SAML}}}Assertion") is None, "a plain assertion beside it"
    issuer = response.find(f"{{{SAML}}}Issuer")
    assert issuer is not None and issuer.text == residents.standin.entity_id
    assert "SAMLRequest=" in trace.authn_request_url and "Signature=" in trace.authn_request_url


def released_attributes(trace: SamlTrace, residents: Residents) -> dict[str, list[str]]:
    """The attributes in the (decrypted) assertion, which must itself be signed, with a
    transient NameID."""
    (encrypted,) = trace.response_xml().findall(f"{{{SAML}}}EncryptedAssertion")
    assertion = decrypt_assertion(encrypted, residents.sp_key)
    assert assertion.tag == f"{{{SAML}}}Assertion"
    assert assertion.find(f"{{{DS}}}Signature") is not None, "assertion not signed"
    name_id = assertion.find(f"{{{SAML}}}Subject/{{{SAML}}}NameID")
    assert name_id is not None and name_id.get("Format") == TRANSIENT
    found: dict[str, list[str]] = {}
    for attribute in assertion.iter(f"{{{SAML}}}Attribute"):
        assert attribute.get("NameFormat") == URI_FORMAT, attribute.attrib
        values = [v.text or "" for v in attribute.findall(f"{{{SAML}}}AttributeValue")]
        found[attribute.get("Name", "")] = values
    return found


def test_resident_logs_in_without_identity_code(residents: Residents) -> None:
    configure(residents, identity_code=False)
    # requested all the same: the link key (Suomi.fi's NameID is transient)
    assert PIC_OID in residents.metadata
    result, trace = login(residents)
    assert result.ok, (result.status, result.errors, result.page[:3000])
    claims = result.claims("id_token")
    assert claims["given_name"] == residents.resident.given_name
    assert claims["family_name"] == residents.resident.family_name
    check_response_signed_and_encrypted(trace, residents)
    code = residents.resident.personal_identity_code
    assert released_attributes(trace, residents) == {
        GIVEN_OID: [residents.resident.given_name],
        SN_OID: [residents.resident.family_name],
        PIC_OID: [code],
    }

    assert code not in json.dumps(result.tokens)
    assert code not in json.dumps(result.claims("access_token"))
    assert code not in json.dumps(result.claims("id_token"))
    user, link = _the_user(residents)
    assert user["firstName"] == residents.resident.given_name
    assert user["lastName"] == residents.resident.family_name
    assert user["username"].startswith("suomifi.")
    assert code not in json.dumps(user)
    # Keycloak keeps it only as the link's key, under a random broker username
    assert link["identityProvider"] == "suomifi" and link["userId"] == code
    assert link["userName"].startswith("suomifi.") and code not in link["userName"]
    events = _events(residents)
    assert any(e["type"] == "LOGIN" for e in events), events
    assert code not in json.dumps(events)


def test_resident_identity_code_when_requested(residents: Residents) -> None:
    configure(residents, identity_code=True)
    assert PIC_OID in residents.metadata
    result, trace = login(residents)
    assert result.ok, (result.status, result.errors, result.page[:3000])
    check_response_signed_and_encrypted(trace, residents)
    assert released_attributes(trace, residents) == {
        GIVEN_OID: [residents.resident.given_name],
        SN_OID: [residents.resident.family_name],
        PIC_OID: [residents.resident.personal_identity_code],
    }
    claims = result.claims("id_token")
    assert claims["given_name"] == residents.resident.given_name
    assert claims["family_name"] == residents.resident.family_name
    user, link = _the_user(residents)
    assert link["userId"] == residents.resident.personal_identity_code
    assert user["attributes"]["personalIdentityCode"] == [residents.resident.personal_identity_code]
    assert residents.resident.personal_identity_code not in user["username"]
