"""The connector path end to end: Molecule scenario tests/molecule/connector_e2e.

One `molecule test -s connector_e2e --destroy never` run: destroy, syntax,
create (five isolated podman networks, eight systemd containers), prepare
(test CA, two cities' AD-shaped slapd DCs with LDAPS, Keycloak stand-ins),
converge (playbooks/connector.yml then playbooks/hub.yml), idempotence
(second run changed=0), verify (tests/molecule/connector_e2e/tests: path,
isolation, check mode, failover, tunnel recovery). The first test fails when
Molecule fails, and prints the measured figures. Then, while the hosts are
still up, the rendered Keycloak logs an employee in through them (marker
``logins``; tests/logins/connector_path.py), and the hosts are destroyed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.logins.city import LoginCity
from tests.logins.connector_path import DOMAIN_CONTROLLERS, FIRST_USER, Scenario, start_city
from tests.logins.flows import Authenticator, login
from tests.molecule import molecule_runner
from tests.molecule.molecule_runner import (
    PROJECT_ROOT,
    ScenarioResult,
    destroy_scenario,
    ephemeral_directory,
    run_scenario,
)
from tests.realsys.pod_runner import podman

pytestmark = pytest.mark.molecule

SCENARIO_DIR = PROJECT_ROOT / "tests"
# Eight containers converge three roles; on a busy two-core machine the run
# takes longer than one role's scenario.
TIMEOUT_S = 40 * 60


@pytest.fixture(scope="module")
def scenario() -> Iterator[ScenarioResult]:
    patch = pytest.MonkeyPatch()
    patch.setattr(molecule_runner, "SCENARIO_TIMEOUT", TIMEOUT_S)
    try:
        yield run_scenario(SCENARIO_DIR, "connector_e2e", destroy=False)
    finally:
        destroy_scenario(SCENARIO_DIR, "connector_e2e")
        patch.undo()


def test_connector_e2e_scenario(
    scenario: ScenarioResult,
    record_property: pytest.RecordProperty,
    capsys: pytest.CaptureFixture[str],
) -> None:
    measured = {
        k: v for report in scenario.reports("e2e-measurements.json") for k, v in report.items()
    }
    record_property("molecule_seconds", round(scenario.seconds))
    status = "passed" if scenario.ok else "FAILED"
    lines = [f"molecule connector_e2e: {status} in {scenario.seconds:.0f} s"]
    lines += [f"  {name}: {value}" for name, value in sorted(measured.items())]
    for name, value in measured.items():
        record_property(name, value)
    with capsys.disabled():
        print("\n" + "\n".join(lines))

    assert scenario.ok, scenario.failure_report()
    assert "recovery_after_hub_restart_s" in measured, f"verifier did not run; log {scenario.log}"


@pytest.fixture(scope="module")
def city_on_the_connector_path(
    scenario: ScenarioResult, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoginCity]:
    if not scenario.ok:
        pytest.fail("the connector scenario failed (see the test above)", pytrace=False)
    pki = ephemeral_directory(SCENARIO_DIR, "connector_e2e") / "pki"
    city = start_city(tmp_path_factory.mktemp("connector-path-city"), Scenario(pki))
    try:
        yield city
    finally:
        city.deployment.close()


@pytest.mark.logins
def test_employee_logs_in_through_the_connector_path_and_survives_a_dc_failure(
    city_on_the_connector_path: LoginCity,
) -> None:
    city = city_on_the_connector_path
    pki = ephemeral_directory(SCENARIO_DIR, "connector_e2e") / "pki"
    password = Scenario(pki).read("citya-user-password")
    phone = Authenticator()

    def log_in() -> tuple[list[str], dict[str, Any]]:
        walk = login(
            city.browser(),
            issuer=city.issuer("employees"),
            client_id="intranet",
            redirect_uri="https://dev-intra.demo.example/oauth2/callback",
            username=FIRST_USER["username"],
            password=password,
            authenticator=phone,
            client_secret=city.secret("intranetClientSecret"),
        )
        assert walk.result is not None and walk.result.ok, (walk.steps, walk.result)
        return walk.steps, walk.result.claims("id_token")

    steps, claims = log_in()
    assert steps == ["password", "otp-setup"]
    assert claims["preferred_username"] == FIRST_USER["username"]
    assert (claims["given_name"], claims["family_name"]) == (
        FIRST_USER["given"],
        FIRST_USER["surname"],
    )
    assert sorted(claims["groups"]) == ["IAM-Admins", "IAM-Users"], claims

    # a domain controller goes away: the connector's HAProxy sends the next bind to the other
    podman("stop", "--time", "0", DOMAIN_CONTROLLERS[0])
    try:
        steps, claims = log_in()
        assert steps == ["password", "otp"]
        assert claims["preferred_username"] == FIRST_USER["username"]
    finally:
        podman("start", DOMAIN_CONTROLLERS[0], check=False)
