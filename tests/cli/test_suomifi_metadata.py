"""``ociam suomifi-metadata``: the SP metadata a city uploads to Suomi.fi, checked against
the SAML metadata schema and against the realm the same checkout renders."""

from __future__ import annotations

import base64
import json
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.logins.suomifi_standin import sp_key_pair
from tests.support import Cli, snapshot

MD = "urn:oasis:names:tc:SAML:2.0:metadata"
DS = "http://www.w3.org/2000/09/xmldsig#"
NS = {"md": MD, "ds": DS}
DEMO = Path("inventories/dev/group_vars/demo.yml")
ALL = Path("inventories/dev/group_vars/all.yml")
SIGNING_KEY = {
    "private_key": {"pulumi_secret": "suomifiSpKey"},
    "certificate": {"pulumi_secret": "suomifiSpCertificate"},
}


def edit_yaml(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def set_suomifi(root: Path, **fields: Any) -> None:
    def change(data: dict[str, Any]) -> None:
        data["realms"]["residents"]["suomifi"] = fields

    edit_yaml(root / DEMO, change)


@pytest.fixture
def checkout(project_copy: Path, project_root: Path) -> Path:
    """The catalog plus the city program (to render), demo with an SP key pair."""
    shutil.copytree(project_root / "stacks", project_copy / "stacks")
    set_suomifi(project_copy, request_personal_identity_code=False, signing_key=SIGNING_KEY)
    return project_copy


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    _key, cert = sp_key_pair()
    path = tmp_path / "sp.crt"
    path.write_bytes(cert)
    return path


@pytest.fixture(scope="module")
def metadata_schema() -> Any:
    """The OASIS SAML 2.0 metadata schema as pysaml2 ships it, read from disk only."""
    import saml2  # type: ignore[import-untyped]
    import xmlschema

    schemas = Path(saml2.__file__).parent / "data" / "schemas"
    return xmlschema.XMLSchema(str(schemas / "saml-schema-metadata-2.0.xsd"), allow="local")


def generate(root: Path, *args: str) -> tuple[int, str, str]:
    result = Cli(root)("suomifi-metadata", "--env", "dev", "--city", "demo", *args)
    return result.exit_code, result.stdout, result.stderr


def rendered_residents(root: Path, out: Path) -> dict[str, Any]:
    result = Cli(root)("render", "--env", "dev", "--city", "demo", "--out", str(out))
    assert result.exit_code == 0, result.output
    realm: dict[str, Any] = json.loads((out / "dev/demo/realm-residents.json").read_text())
    return realm


def test_metadata_matches_the_rendered_broker_and_the_schema(
    checkout: Path, certificate: Path, tmp_path: Path, metadata_schema: Any
) -> None:
    out = tmp_path / "sp-metadata.xml"
    code, stdout, stderr = generate(checkout, "--certificate", str(certificate), "--out", str(out))
    assert code == 0, stderr
    assert stdout == ""
    metadata_schema.validate(str(out))
    root = ET.parse(out).getroot()

    realm = rendered_residents(checkout, tmp_path / "rendered")
    (broker,) = realm["identityProviders"]
    host = broker["config"]["entityId"].removeprefix("https://").split("/")[0]
    assert root.tag == f"{{{MD}}}EntityDescriptor"
    assert root.get("entityID") == broker["config"]["entityId"]
    (sp,) = root.findall("md:SPSSODescriptor", NS)
    assert sp.get("AuthnRequestsSigned") == "true"
    assert sp.get("WantAssertionsSigned") == "true"
    endpoint = f"https://{host}/realms/residents/broker/{broker['alias']}/endpoint"
    (acs,) = sp.findall("md:AssertionConsumerService", NS)
    assert (acs.get("Binding"), acs.get("Location")) == (
        "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST",
        endpoint,
    )
    slo = sp.findall("md:SingleLogoutService", NS)
    assert slo and {s.get("Location") for s in slo} == {endpoint}
    assert [n.text for n in sp.findall("md:NameIDFormat", NS)] == [
        broker["config"]["nameIDPolicyFormat"]
    ]
    # one certificate, for both uses (no `use`), the one given
    (descriptor,) = sp.findall("md:KeyDescriptor", NS)
    assert descriptor.get("use") is None
    (value,) = descriptor.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS)
    given = x509.load_pem_x509_certificate(certificate.read_bytes())
    assert base64.b64decode(value.text or "") == given.public_bytes(serialization.Encoding.DER)
    assert "not in the file: Organization" in stderr
    assert "not in the file: ContactPerson" in stderr


def requested(xml_text: str) -> list[tuple[str | None, str | None]]:
    root = ET.fromstring(xml_text)
    return [
        (a.get("Name"), a.get("NameFormat"))
        for a in root.findall("md:SPSSODescriptor/md:AttributeConsumingService/*", NS)
        if a.tag == f"{{{MD}}}RequestedAttribute"
    ]


def used(realm: dict[str, Any]) -> list[str]:
    """The attributes the rendered broker uses: imported by its mappers, then its
    principal (the link key)."""
    (broker,) = realm["identityProviders"]
    names = mapped(realm)
    if broker["config"]["principalType"] == "ATTRIBUTE":
        principal = broker["config"]["principalAttribute"]
        names += [] if principal in names else [principal]
    return names


def mapped(realm: dict[str, Any]) -> list[str]:
    return [
        m["config"]["attribute.name"]
        for m in realm["identityProviderMappers"]
        if "attribute.name" in m["config"]
    ]


@pytest.mark.parametrize("identity_code", [False, True])
def test_requests_exactly_what_the_realm_maps(
    checkout: Path, certificate: Path, tmp_path: Path, identity_code: bool
) -> None:
    set_suomifi(checkout, request_personal_identity_code=identity_code, signing_key=SIGNING_KEY)
    code, stdout, stderr = generate(checkout, "--certificate", str(certificate))
    assert code == 0, stderr
    names = requested(stdout)
    uri = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
    assert {f for _, f in names} == {uri}
    realm = rendered_residents(checkout, tmp_path / "r")
    assert [n for n, _ in names] == used(realm)
    # the link key (Suomi.fi's NameID is transient) is requested either way; it becomes a
    # user attribute only when the catalog asks
    assert "urn:oid:1.2.246.21" in [n for n, _ in names]
    assert ("urn:oid:1.2.246.21" in mapped(realm)) is identity_code
    assert {"urn:oid:2.5.4.42", "urn:oid:2.5.4.4"} <= {n for n, _ in names}


def test_attribute_names_follow_the_environment(
    checkout: Path, certificate: Path, tmp_path: Path
) -> None:
    """Names configured under suomifi.attributes, not a copy of the defaults."""

    def change(data: dict[str, Any]) -> None:
        data["suomifi"]["attributes"] = {"given_name": "urn:oid:2.5.4.42.test"}

    edit_yaml(checkout / ALL, change)
    code, stdout, stderr = generate(checkout, "--certificate", str(certificate))
    assert code == 0, stderr
    assert [n for n, _ in requested(stdout)] == [
        "urn:oid:2.5.4.42.test",
        "urn:oid:2.5.4.4",
        "urn:oid:1.2.246.21",
    ]
    assert [n for n, _ in requested(stdout)] == used(rendered_residents(checkout, tmp_path / "r"))


def test_json_output(checkout: Path, certificate: Path, tmp_path: Path) -> None:
    out = tmp_path / "sp.xml"
    code, stdout, stderr = generate(
        checkout, "--certificate", str(certificate), "--out", str(out), "--output", "json"
    )
    assert code == 0, stderr
    data = json.loads(stdout)
    assert data["city"] == "demo" and data["env"] == "dev"
    assert data["file"] == str(out) and data["xml"] is None
    assert data["entity_id"] == ET.parse(out).getroot().get("entityID")
    assert data["acs_url"].endswith("/realms/residents/broker/suomifi/endpoint")
    assert data["requested_attributes"] == [
        "urn:oid:2.5.4.42",
        "urn:oid:2.5.4.4",
        "urn:oid:1.2.246.21",
    ]
    der = x509.load_pem_x509_certificate(certificate.read_bytes()).public_bytes(
        serialization.Encoding.DER
    )
    import hashlib

    assert data["certificate_sha256"] == hashlib.sha256(der).hexdigest()
    assert len(data["missing"]) == 2
    code, stdout, _ = generate(checkout, "--certificate", str(certificate), "-o", "json")
    assert code == 0 and json.loads(stdout)["xml"].startswith("<?xml")


def test_without_certificate_says_where_it_comes_from(checkout: Path) -> None:
    before = snapshot(checkout)
    code, stdout, stderr = generate(checkout)
    assert code == 2 and stdout == ""
    assert "inventories/dev/group_vars/demo.yml" in stderr
    assert "realms.residents.suomifi.signing_key.certificate" in stderr
    assert "'suomifiSpCertificate' of stack dev-demo" in stderr
    assert "--certificate" in stderr
    assert snapshot(checkout) == before


def test_without_signing_key_no_one_certificate_metadata(checkout: Path, certificate: Path) -> None:
    set_suomifi(checkout, request_personal_identity_code=False)
    code, stdout, stderr = generate(checkout, "--certificate", str(certificate))
    assert code == 2 and stdout == ""
    assert "realms.residents.suomifi.signing_key is not set" in stderr
    assert "two different key pairs" in stderr


def test_separate_encryption_key_refused(checkout: Path, certificate: Path) -> None:
    set_suomifi(
        checkout,
        separate_encryption_key=True,
        signing_key=SIGNING_KEY,
        encryption_key={
            "private_key": {"pulumi_secret": "suomifiEncKey"},
            "certificate": {"pulumi_secret": "suomifiEncCertificate"},
        },
    )
    code, _, stderr = generate(checkout, "--certificate", str(certificate))
    assert code == 2
    assert "separate_encryption_key" in stderr


def test_no_residents_realm(checkout: Path, certificate: Path) -> None:
    def change(data: dict[str, Any]) -> None:
        del data["realms"]["residents"]
        data["applications"] = [a for a in data["applications"] if a["realm"] != "residents"]

    edit_yaml(checkout / DEMO, change)
    code, _, stderr = generate(checkout, "--certificate", str(certificate))
    assert code == 2
    assert "realms.residents: the city has no residents realm" in stderr


def test_private_key_refused_and_never_echoed(checkout: Path, tmp_path: Path) -> None:
    key, cert = sp_key_pair()
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(cert + key)
    code, stdout, stderr = generate(checkout, "--certificate", str(bundle))
    assert code == 2 and stdout == ""
    assert "holds a private key" in stderr
    body = b"".join(key.splitlines()[1:-1]).decode()
    for chunk in (body[i : i + 16] for i in range(0, len(body), 16)):
        assert chunk not in stderr


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "found 0"),
        (b"not a pem at all\n", "found 0"),
        (
            b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n",
            "not an X.509 certificate",
        ),
    ],
)
def test_bad_certificate_files(checkout: Path, tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "bad.pem"
    path.write_bytes(content)
    code, _, stderr = generate(checkout, "--certificate", str(path))
    assert code == 2
    assert f"{path}: --certificate:" in stderr and reason in stderr


def test_two_certificates_refused(checkout: Path, tmp_path: Path) -> None:
    path = tmp_path / "two.pem"
    path.write_bytes(sp_key_pair()[1] + sp_key_pair()[1])
    code, _, stderr = generate(checkout, "--certificate", str(path))
    assert code == 2 and "found 2" in stderr


def test_missing_certificate_file(checkout: Path, tmp_path: Path) -> None:
    code, _, stderr = generate(checkout, "--certificate", str(tmp_path / "absent.pem"))
    assert code == 2
    assert "absent.pem" in stderr


def test_unwritable_out_exits_1(checkout: Path, certificate: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    code, _, stderr = generate(
        checkout, "--certificate", str(certificate), "--out", str(blocker / "sp.xml")
    )
    assert code == 1
    assert "cannot write the metadata" in stderr


def test_unknown_city(checkout: Path, certificate: Path) -> None:
    result = Cli(checkout)(
        "suomifi-metadata", "--env", "dev", "--city", "nowhere", "--certificate", str(certificate)
    )
    assert result.exit_code == 2
    assert "nowhere" in result.stderr
