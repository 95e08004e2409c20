"""A browser's walk through Keycloak's login pages, step by step, with TOTP.

Every step is a page Keycloak served and a form on it, filled and posted with
the cookies the browser holds (tests/keycloak/browser.py parses the forms).
The application's half is authorization code + PKCE S256.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import requests

from tests.keycloak.browser import AuthorizationRequest, LoginResult, forms

#: Keycloak's TOTP policy as the realm renders it (HmacSHA1, 6 digits, 30 s)
PERIOD = 30
DIGITS = 6


def totp(secret: str, at: float | None = None) -> str:
    """RFC 6238 with Keycloak's key: the UTF-8 bytes of the secret its form carries."""
    counter = int((time.time() if at is None else at) // PERIOD)
    digest = hmac.new(secret.encode(), struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return str(value % 10**DIGITS).zfill(DIGITS)


@dataclass
class Authenticator:
    """The phone app of one user: the enrolled secret, and the last time step used
    (Keycloak refuses a code twice: ``otpPolicyCodeReusable: false``)."""

    secret: str | None = None
    last_step: int = -1

    def code(self) -> str:
        assert self.secret is not None, "no OTP enrolled"
        step = int(time.time() // PERIOD)
        if step <= self.last_step:
            time.sleep((self.last_step + 1) * PERIOD - time.time() + 0.2)
            step = int(time.time() // PERIOD)
        self.last_step = step
        return totp(self.secret)


@dataclass
class Walk:
    """What a login went through: the forms posted (by id), and the result."""

    steps: list[str] = field(default_factory=list)
    result: LoginResult | None = None


def _form(page: str, *fields: str) -> dict[str, Any] | None:
    for form in forms(page).forms:
        if all(f in form["inputs"] for f in fields):
            return form
    return None


def login(
    session: requests.Session,
    *,
    issuer: str,
    client_id: str,
    redirect_uri: str,
    username: str,
    password: str,
    authenticator: Authenticator | None = None,
    client_secret: str | None = None,
    wrong_code: bool = False,
) -> Walk:
    """Authorization code + PKCE through every page Keycloak shows: the password form,
    then the OTP set-up (first login) or the OTP form; ``wrong_code`` posts a code
    that is not the current one. A form shown again after it was posted (Keycloak's
    answer to a wrong entry) ends the walk with the page's error."""
    walk = Walk()
    # the realms default to Finnish; this browser prefers English
    request = AuthorizationRequest.new(issuer, client_id, redirect_uri, ui_locales="en")
    page = session.get(request.url, timeout=60)
    response: requests.Response = page
    for _ in range(6):
        text = response.text
        if response.status_code in {302, 303}:
            location = response.headers.get("Location", "")
            if location.startswith(redirect_uri):
                break
            response = session.get(location, allow_redirects=False, timeout=60)
            continue
        if response.status_code != 200:
            walk.result = LoginResult.page_shown(response)
            return walk
        seen = set(walk.steps)
        if (form := _form(text, "username", "password")) is not None and not walk.steps:
            walk.steps.append("password")
            fields = {**form["inputs"], "username": username, "password": password}
        elif (
            (form := _form(text, "totpSecret")) is not None
            and authenticator is not None
            and ("otp-setup" not in seen)
        ):
            walk.steps.append("otp-setup")
            authenticator.secret = form["inputs"]["totpSecret"]
            fields = {**form["inputs"], "totp": authenticator.code(), "userLabel": "test phone"}
        elif (
            (form := _form(text, "otp")) is not None
            and authenticator is not None
            and ("otp" not in seen)
        ):
            walk.steps.append("otp")
            code = authenticator.code()
            if wrong_code:
                code = str((int(code) + 1) % 10**DIGITS).zfill(DIGITS)
            fields = {**form["inputs"], "otp": code}
        else:
            walk.result = LoginResult.page_shown(response)
            return walk
        response = session.post(form["action"], data=fields, allow_redirects=False, timeout=60)
    walk.result = request.finish(session, response, client_secret)
    return walk
