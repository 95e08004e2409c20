"""Logging in the way a browser does: follow redirects, fill the login form Keycloak
serves, post it, carry the cookies; then the application's half of the
authorization code flow with PKCE S256. No admin API shortcut stands in for a login."""

from __future__ import annotations

import base64
import hashlib
import html.parser
import json
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import requests


class _Forms(html.parser.HTMLParser):
    """Every <form> of a page (its action and its inputs' default values), and the
    targets of its links that have an id (Keycloak's identity provider buttons)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, Any]] = []
        self.links: dict[str, str] = {}
        self.errors: list[str] = []
        self._in_error = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "a" and values.get("id") and values.get("href"):
            self.links[values["id"]] = values["href"]
        if tag == "form":
            self.forms.append(
                {"id": values.get("id", ""), "action": values.get("action", ""), "inputs": {}}
            )
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1]["inputs"][values["name"]] = values.get("value", "")
        elif "kc-feedback-text" in values.get("class", "") or values.get("id") in {
            "input-error",
            "input-error-username",
        }:
            self._in_error = True

    def handle_data(self, data: str) -> None:
        if self._in_error and data.strip():
            self.errors.append(data.strip())
            self._in_error = False


def forms(page: str) -> _Forms:
    parser = _Forms()
    parser.feed(page)
    return parser


@dataclass
class LoginResult:
    """What the application got: tokens, or the page Keycloak showed instead."""

    tokens: dict[str, Any] | None
    page: str
    status: int
    errors: list[str]

    @classmethod
    def page_shown(cls, response: requests.Response) -> LoginResult:
        """No tokens: the page Keycloak (or the IdP) showed instead, with its errors."""
        return cls(None, response.text, response.status_code, forms(response.text).errors)

    @property
    def ok(self) -> bool:
        return self.tokens is not None

    def claims(self, token: str = "id_token") -> dict[str, Any]:
        assert self.tokens is not None, "no tokens"
        payload = str(self.tokens[token]).split(".")[1]
        decoded: dict[str, Any] = json.loads(
            base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        )
        return decoded


MAX_REDIRECTS = 20


def follow_redirects(
    session: requests.Session,
    response: requests.Response,
    stop_at: str,
    visited: list[str] | None = None,
) -> requests.Response:
    """Follow redirects one hop at a time (GET, as a browser after 302/303), stopping at a
    redirect to ``stop_at`` (the application, which the test plays itself); each location
    is appended to ``visited``."""
    for _ in range(MAX_REDIRECTS):
        if response.status_code not in {301, 302, 303, 307}:
            return response
        location = urljoin(response.url, response.headers["Location"])
        if location.startswith(stop_at):
            return response
        if visited is not None:
            visited.append(location)
        response = session.get(location, allow_redirects=False, timeout=60)
    raise AssertionError(f"more than {MAX_REDIRECTS} redirects")


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=")
    return verifier, challenge.decode()


@dataclass(frozen=True)
class AuthorizationRequest:
    """The application's half of authorization code + PKCE S256: where it sends the
    browser, and the code-for-tokens exchange when the browser comes back."""

    issuer: str
    client_id: str
    redirect_uri: str
    verifier: str
    state: str
    query: str

    @classmethod
    def new(
        cls, issuer: str, client_id: str, redirect_uri: str, scope: str = "openid", **extra: str
    ) -> AuthorizationRequest:
        verifier, challenge = _pkce()
        state = secrets.token_urlsafe(16)
        query = urlencode(
            {
                "client_id": client_id,
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scope": scope,
                "state": state,
                "nonce": secrets.token_urlsafe(16),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                **extra,
            }
        )
        return cls(issuer, client_id, redirect_uri, verifier, state, query)

    @property
    def url(self) -> str:
        return f"{self.issuer}/protocol/openid-connect/auth?{self.query}"

    def finish(
        self,
        session: requests.Session,
        response: requests.Response,
        client_secret: str | None = None,
    ) -> LoginResult:
        """Tokens for the code ``response`` redirects to, or what Keycloak showed instead."""
        location = response.headers.get("Location", "")
        if response.status_code not in {302, 303} or not location.startswith(self.redirect_uri):
            return LoginResult.page_shown(response)
        params = parse_qs(urlsplit(location).query)
        if params.get("state") != [self.state] or "code" not in params:
            return LoginResult(None, location, response.status_code, [f"bad redirect {location}"])
        token_request = {
            "grant_type": "authorization_code",
            "code": params["code"][0],
            "redirect_uri": self.redirect_uri,
            "client_id": self.client_id,
            "code_verifier": self.verifier,
        }
        if client_secret is not None:
            token_request["client_secret"] = client_secret
        tokens = session.post(
            f"{self.issuer}/protocol/openid-connect/token", data=token_request, timeout=60
        )
        if tokens.status_code != 200:
            return LoginResult(None, tokens.text, tokens.status_code, [tokens.text[:500]])
        return LoginResult(tokens.json(), "", 200, [])


def password_login(
    session: requests.Session,
    *,
    issuer: str,
    client_id: str,
    redirect_uri: str,
    username: str,
    password: str,
    client_secret: str | None = None,
    scope: str = "openid",
) -> LoginResult:
    """Authorization code + PKCE S256 through Keycloak's own login form."""
    request = AuthorizationRequest.new(issuer, client_id, redirect_uri, scope)
    page = session.get(request.url, timeout=60)
    login_forms = [
        f for f in forms(page.text).forms if "username" in f["inputs"] or f["id"] == "kc-form-login"
    ]
    if page.status_code != 200 or not login_forms:
        return LoginResult.page_shown(page)
    form = login_forms[0]
    fields = {**form["inputs"], "username": username, "password": password}
    answer = session.post(form["action"], data=fields, allow_redirects=False, timeout=60)
    return request.finish(session, answer, client_secret)
