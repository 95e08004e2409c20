"""Employees log in through the city's AD: the rendered employees realm, for real.

Each login is a browser's: Keycloak's own pages, filled and posted, cookies
carried, authorization code + PKCE S256 for the application (the demo city's
``intranet``, confidential). The directory is the AD-shaped OpenLDAP of
tests/realsys/ad_directory.py, over LDAPS from a test CA that the catalog's
``ldap.ca_certificate`` carries into Keycloak's truststore.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.logins.city import LoginCity
from tests.logins.flows import Authenticator, Walk, login

pytestmark = pytest.mark.logins

REALM = "employees"
APP = "intranet"
REDIRECT = "https://dev-intra.demo.example/oauth2/callback"
#: phone apps of the users who enrolled, for the session
PHONES: dict[str, Authenticator] = {}


def _login(city: LoginCity, username: str, password: str | None = None, **kwargs: Any) -> Walk:
    employee = city.employees[username]
    return login(
        city.browser(),
        issuer=city.issuer(REALM),
        client_id=APP,
        redirect_uri=REDIRECT,
        username=username,
        password=employee.password if password is None else password,
        authenticator=PHONES.setdefault(username, Authenticator()),
        client_secret=city.secret("intranetClientSecret"),
        **kwargs,
    )


def _events(city: LoginCity, username: str) -> list[dict[str, Any]]:
    admin = city.admin()
    (user,) = admin.get(f"/{REALM}/users", params={"username": username, "exact": "true"})
    found: list[dict[str, Any]] = admin.get(f"/{REALM}/events", params={"user": user["id"]})
    return found


def test_first_login_enrolls_otp_and_the_tokens_carry_ad_attributes_and_groups(
    login_city: LoginCity,
) -> None:
    walk = _login(login_city, "aino.virtanen")
    assert walk.result is not None and walk.result.ok, (walk.steps, walk.result)
    # a password user must set up the second factor before the first login completes
    assert walk.steps == ["password", "otp-setup"]
    for token in ("id_token", "access_token"):
        claims = walk.result.claims(token)
        assert claims["preferred_username"] == "aino.virtanen", claims
        assert claims["given_name"] == "Aino" and claims["family_name"] == "Virtanen", claims
        assert claims["email"] == "aino.virtanen@demo.example", claims
        assert sorted(claims["groups"]) == ["IAM-Users", "Intranet-Editors"], claims
        assert claims["iss"] == login_city.issuer(REALM)
    # the LDAP provider imported the user, linked by the binary objectGUID
    admin = login_city.admin()
    (user,) = admin.get(f"/{REALM}/users", params={"username": "aino.virtanen", "exact": "true"})
    assert user["federationLink"], user
    guid = login_city.employees["aino.virtanen"].guid
    assert user["attributes"]["LDAP_ID"] == [_ad_guid_string(guid)], user["attributes"]
    assert user["attributes"]["LDAP_ENTRY_DN"][0].lower().startswith("cn=virtanen aino,"), user


def _ad_guid_string(guid: bytes) -> str:
    """AD's string form of an objectGUID: the first three fields little-endian."""
    fields = (guid[3::-1], guid[5:3:-1], guid[7:5:-1], guid[8:10], guid[10:])
    return "-".join(part.hex() for part in fields)


def test_later_logins_need_the_current_code_and_a_wrong_one_is_refused(
    login_city: LoginCity,
) -> None:
    user = "matti.korhonen"
    first = _login(login_city, user)
    assert first.result is not None and first.result.ok, first.result
    wrong = _login(login_city, user, wrong_code=True)
    assert wrong.steps == ["password", "otp"]
    assert wrong.result is not None and not wrong.result.ok
    assert any("Invalid" in e for e in wrong.result.errors), wrong.result.errors
    right = _login(login_city, user)
    assert right.steps == ["password", "otp"], right.steps
    assert right.result is not None and right.result.ok, right.result


def test_a_wrong_password_is_refused(login_city: LoginCity) -> None:
    walk = _login(login_city, "pekka.vaihto", password="not-the-password")
    assert walk.steps == ["password"]
    assert walk.result is not None and not walk.result.ok
    assert any("Invalid username or password" in e for e in walk.result.errors), walk.result


def test_five_failures_lock_the_account_for_the_configured_time(login_city: LoginCity) -> None:
    user = "liisa.lukko"
    realm = login_city.admin().get(f"/{REALM}")
    failures, wait = realm["failureFactor"], realm["waitIncrementSeconds"]
    assert (failures, wait) == (5, 60), "the realm's brute-force settings changed"
    # slower than quickLoginCheckMilliSeconds: the count, not the quick-login rule, locks
    spacing = realm["quickLoginCheckMilliSeconds"] / 1000 + 0.5
    for _ in range(failures):
        walk = _login(login_city, user, password="wrong-password")
        assert walk.result is not None and not walk.result.ok
        time.sleep(spacing)
    locked_at = time.monotonic()
    refused = _login(login_city, user)
    assert refused.steps == ["password"], "the right password got past a locked account"
    assert refused.result is not None and not refused.result.ok
    status = login_city.admin().get(
        f"/{REALM}/attack-detection/brute-force/users/{_user_id(login_city, user)}",
    )
    assert status["disabled"] is True and status["numFailures"] >= failures, status
    errors = [e.get("error") for e in _events(login_city, user) if e["type"] == "LOGIN_ERROR"]
    assert "user_temporarily_disabled" in errors, errors
    assert errors.count("invalid_user_credentials") >= failures, errors
    # after the configured time the same password works again (then the OTP set-up)
    time.sleep(max(0.0, wait + 2 - (time.monotonic() - locked_at)))
    walk = _login(login_city, user)
    assert walk.result is not None and walk.result.ok, (walk.steps, walk.result)


def _user_id(city: LoginCity, username: str) -> str:
    (user,) = city.admin().get(f"/{REALM}/users", params={"username": username, "exact": "true"})
    return str(user["id"])
