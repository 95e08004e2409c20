"""Two pods of the ``ha`` render form one Keycloak cluster through their database (jdbc-ping).

Shown from Keycloak itself: both pods log the same two-member cluster view;
a session created through one pod is used, refreshed and ended through the
other; and a realm change made through one pod is served by the other at
once (its realm cache was invalidated over the cluster, not expired).
"""

from __future__ import annotations

import json
import re
import secrets

import pytest

from tests.keycloak.admin import KeycloakAdmin
from tests.keycloak.browser import password_login
from tests.keycloak.conftest import RunningCity
from tests.keycloak.probe_realm import ProbeRealm, create_probe_realm

pytestmark = pytest.mark.keycloak

_VIEW = re.compile(
    r"ISPN000094: Received new cluster view for channel ISPN: \[[^|]+\|\d+\] \((\d+)\) \[(.*)\]"
)


def _views(log: str) -> list[tuple[int, list[str]]]:
    views = []
    for line in log.splitlines():
        try:
            message = str(json.loads(line).get("message", ""))
        except json.JSONDecodeError:
            continue
        match = _VIEW.search(message)
        if match:
            members = [m.split("(")[0].strip() for m in match[2].split(",")]
            views.append((int(match[1]), members))
    return views


@pytest.fixture(scope="module")
def probe(ha: RunningCity) -> ProbeRealm:
    return create_probe_realm(ha.deployment.bootstrap_admin(), users=1)


def test_both_pods_log_the_same_two_member_view(ha: RunningCity) -> None:
    finals = []
    for pod in ha.pods:
        views = _views(ha.logs[pod.name])
        assert views, f"{pod.name} logged no cluster view"
        size, members = views[-1]
        assert size == len(ha.pods), views
        finals.append(sorted(members))
    assert finals[0] == finals[1]
    # members are named after the pods' hostnames (keycloak-0, keycloak-1)
    assert all(any(m.startswith(f"keycloak-{i}") for m in finals[0]) for i in range(len(ha.pods)))


def test_a_session_made_through_one_pod_works_through_the_other(
    ha: RunningCity, probe: ProbeRealm
) -> None:
    first, second = ha.pods
    deployment = ha.deployment
    (user, password), *_ = probe.users.items()
    issuer = probe.issuer(deployment.public_host)
    login = password_login(
        deployment.browser(first, [probe.route(deployment.public_host)]),
        issuer=issuer,
        client_id=probe.client_id,
        redirect_uri=probe.redirect_uri,
        username=user,
        password=password,
    )
    assert login.ok, login.errors
    assert login.tokens is not None
    through_second = deployment.browser(second, [probe.route(deployment.public_host)])
    userinfo = through_second.get(
        f"{issuer}/protocol/openid-connect/userinfo",
        headers={"Authorization": f"Bearer {login.tokens['access_token']}"},
        timeout=30,
    )
    assert userinfo.status_code == 200 and userinfo.json()["preferred_username"] == user
    refreshed = through_second.post(
        f"{issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": login.tokens["refresh_token"],
            "client_id": probe.client_id,
        },
        timeout=30,
    )
    assert refreshed.status_code == 200, refreshed.text
    assert refreshed.json()["session_state"] == login.claims("access_token")["sid"]
    # logging out through the second pod ends the session on the first one too
    logout = through_second.post(
        f"{issuer}/protocol/openid-connect/logout",
        data={"client_id": probe.client_id, "refresh_token": refreshed.json()["refresh_token"]},
        timeout=30,
    )
    assert logout.status_code == 204, logout.text
    again = deployment.browser(first, [probe.route(deployment.public_host)]).post(
        f"{issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "refresh_token",
            "refresh_token": refreshed.json()["refresh_token"],
            "client_id": probe.client_id,
        },
        timeout=30,
    )
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant", again.text


def test_a_realm_change_through_one_pod_is_served_by_the_other_at_once(
    ha: RunningCity, probe: ProbeRealm
) -> None:
    first, second = ha.pods
    deployment = ha.deployment
    issuer = probe.issuer(deployment.public_host)
    # warm the second pod's realm cache
    before = deployment.browser(second, [probe.route(deployment.public_host)]).get(
        f"{issuer}/.well-known/openid-configuration", timeout=30
    )
    assert before.status_code == 200
    admin_first: KeycloakAdmin = deployment.bootstrap_admin(first)
    lifespan = 300 + secrets.randbelow(600)
    realm = admin_first.get(f"/{probe.realm}")
    admin_first.put(f"/{probe.realm}", {**realm, "accessTokenLifespan": lifespan})
    # a token issued by the second pod right away carries the new lifespan
    (user, password), *_ = probe.users.items()
    login = password_login(
        deployment.browser(second, [probe.route(deployment.public_host)]),
        issuer=issuer,
        client_id=probe.client_id,
        redirect_uri=probe.redirect_uri,
        username=user,
        password=password,
    )
    assert login.ok and login.tokens is not None, login.errors
    assert login.tokens["expires_in"] == lifespan
