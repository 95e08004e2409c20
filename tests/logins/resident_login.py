"""A resident's login as a browser makes it: the application sends them to the residents
realm, which sends them to Suomi.fi (the stand-in), whose login form they fill; the SAML
response comes back in an auto-submitting HTML form (HTTP-POST binding) that the browser
posts to the realm's broker endpoint; first broker login; the application gets its code.

Every hop is an HTTP request the browser would make (redirects followed one by one,
forms parsed from the pages served, cookies carried). The SAMLResponse the browser posts
is kept so that the test can see what Suomi.fi's side sent.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import urljoin

import requests

from tests.keycloak.browser import AuthorizationRequest, LoginResult, follow_redirects, forms

SAMLP = "urn:oasis:names:tc:SAML:2.0:protocol"
SAML = "urn:oasis:names:tc:SAML:2.0:assertion"
DS = "http://www.w3.org/2000/09/xmldsig#"
XENC = "http://www.w3.org/2001/04/xmlenc#"


@dataclass
class SamlTrace:
    """What went over the browser between the two realms."""

    authn_request_url: str = ""
    responses: list[str] = field(default_factory=list)
    pages: list[str] = field(default_factory=list)

    def response_xml(self) -> ET.Element:
        (encoded,) = self.responses
        return ET.fromstring(base64.b64decode(encoded))


def _follow(
    session: requests.Session, response: requests.Response, stop_at: str, trace: SamlTrace
) -> requests.Response:
    """Redirects followed as a browser does, the AuthnRequest's (redirect binding) kept."""
    visited: list[str] = []
    answer = follow_redirects(session, response, stop_at, visited)
    for location in visited:
        if "SAMLRequest=" in location:
            trace.authn_request_url = location
    return answer


def _auto_post(
    session: requests.Session, page: requests.Response, stop_at: str, trace: SamlTrace
) -> requests.Response:
    """Submit the page's SAML auto-POST form, as its onload script would."""
    (form,) = [
        f for f in forms(page.text).forms if {"SAMLResponse", "SAMLRequest"} & set(f["inputs"])
    ]
    if "SAMLResponse" in form["inputs"]:
        trace.responses.append(form["inputs"]["SAMLResponse"])
    answer = session.post(
        urljoin(page.url, form["action"]), data=form["inputs"], allow_redirects=False, timeout=60
    )
    return _follow(session, answer, stop_at, trace)


def resident_login(
    session: requests.Session,
    *,
    issuer: str,
    client_id: str,
    redirect_uri: str,
    username: str,
    password: str,
    scope: str = "openid",
) -> tuple[LoginResult, SamlTrace]:
    """Authorization code + PKCE S256 through the realm's Suomi.fi broker."""
    trace = SamlTrace()
    request = AuthorizationRequest.new(issuer, client_id, redirect_uri, scope)
    first = session.get(request.url, allow_redirects=False, timeout=60)
    page = _follow(session, first, redirect_uri, trace)
    # the AuthnRequest by HTTP-POST binding (request_binding: post) is an auto-POST form too
    if page.status_code == 200 and "SAMLRequest" in page.text:
        page = _auto_post(session, page, redirect_uri, trace)
    trace.pages.append(page.text)
    login_forms = [f for f in forms(page.text).forms if "username" in f["inputs"]]
    if page.status_code != 200 or not login_forms:
        return LoginResult.page_shown(page), trace
    fields = {**login_forms[0]["inputs"], "username": username, "password": password}
    answer = session.post(login_forms[0]["action"], data=fields, allow_redirects=False, timeout=60)
    answer = _follow(session, answer, redirect_uri, trace)
    while answer.status_code == 200 and "SAMLResponse" in answer.text:
        answer = _auto_post(session, answer, redirect_uri, trace)
    if answer.status_code not in {302, 303}:
        trace.pages.append(answer.text)
    return request.finish(session, answer), trace


XENC11 = "http://www.w3.org/2009/xmlenc11#"
_DIGESTS = {
    "http://www.w3.org/2000/09/xmldsig#sha1": "SHA1",
    "http://www.w3.org/2001/04/xmlenc#sha256": "SHA256",
    "http://www.w3.org/2001/04/xmlenc#sha512": "SHA512",
}
_MGFS = {f"{XENC11}mgf1sha{n}": f"SHA{n}" for n in ("1", "224", "256", "384", "512")}


def _key_transport(encrypted_key: ET.Element, private_key_pem: bytes) -> bytes:
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    key = serialization.load_pem_private_key(private_key_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    method = encrypted_key.find(f"{{{XENC}}}EncryptionMethod")
    assert method is not None
    algorithm = method.get("Algorithm", "")
    cipher = encrypted_key.findtext(f"{{{XENC}}}CipherData/{{{XENC}}}CipherValue") or ""
    wrapped = base64.b64decode("".join(cipher.split()))
    if algorithm == f"{XENC}rsa-1_5":
        return key.decrypt(wrapped, padding.PKCS1v15())
    digest_method = method.find(f"{{{DS}}}DigestMethod")
    digest = _DIGESTS[digest_method.get("Algorithm", "")] if digest_method is not None else "SHA1"
    mgf_method = method.find(f"{{{XENC11}}}MGF")
    mgf = _MGFS[mgf_method.get("Algorithm", "")] if mgf_method is not None else "SHA1"
    if algorithm not in {f"{XENC}rsa-oaep-mgf1p", f"{XENC11}rsa-oaep"}:
        raise AssertionError(f"key transport {algorithm} is not modelled")
    oaep = padding.OAEP(
        mgf=padding.MGF1(getattr(hashes, mgf)()), algorithm=getattr(hashes, digest)(), label=None
    )
    return key.decrypt(wrapped, oaep)


def decrypt_assertion(encrypted: ET.Element, private_key_pem: bytes) -> ET.Element:
    """The Assertion inside an EncryptedAssertion, decrypted with the SP's private key
    (XML Encryption: RSA key transport, AES-CBC or AES-GCM content)."""
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data = encrypted.find(f"{{{XENC}}}EncryptedData")
    encrypted_key = next(encrypted.iter(f"{{{XENC}}}EncryptedKey"), None)
    assert data is not None and encrypted_key is not None, "no EncryptedData/EncryptedKey"
    content_key = _key_transport(encrypted_key, private_key_pem)
    method = data.find(f"{{{XENC}}}EncryptionMethod")
    algorithm = method.get("Algorithm", "") if method is not None else ""
    cipher_text = data.findtext(f"{{{XENC}}}CipherData/{{{XENC}}}CipherValue") or ""
    raw = base64.b64decode("".join(cipher_text.split()))
    if algorithm.endswith("-gcm"):
        plain = AESGCM(content_key).decrypt(raw[:12], raw[12:], None)
    elif algorithm.endswith("-cbc"):
        decryptor = Cipher(algorithms.AES(content_key), modes.CBC(raw[:16])).decryptor()
        padded = decryptor.update(raw[16:]) + decryptor.finalize()
        plain = padded[: -padded[-1]]  # XML Encryption padding: last byte is the count
    else:
        raise AssertionError(f"content encryption {algorithm} is not modelled")
    return ET.fromstring(plain)
