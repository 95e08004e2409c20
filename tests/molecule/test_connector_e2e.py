"""The connector path end to end: Molecule scenario tests/molecule/connector_e2e.

One `molecule test -s connector_e2e` run: destroy, syntax, create (five
isolated podman networks, eight systemd containers), prepare (test CA, two
cities' slapd DCs with LDAPS, Keycloak stand-ins), converge
(playbooks/connector.yml then playbooks/hub.yml), idempotence (second run
changed=0), verify (tests/molecule/connector_e2e/tests: path, isolation,
check mode, failover, tunnel recovery), destroy. This test fails when
Molecule fails, and prints the measured figures.
"""

from __future__ import annotations

import pytest

from tests.molecule import molecule_runner
from tests.molecule.molecule_runner import PROJECT_ROOT, run_scenario

pytestmark = pytest.mark.molecule

# Eight containers converge three roles; on a busy two-core machine the run
# takes longer than one role's scenario.
TIMEOUT_S = 40 * 60


def test_connector_e2e_scenario(
    monkeypatch: pytest.MonkeyPatch,
    record_property: pytest.RecordProperty,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(molecule_runner, "SCENARIO_TIMEOUT", TIMEOUT_S)
    result = run_scenario(PROJECT_ROOT / "tests", "connector_e2e")
    measured = {
        k: v for report in result.reports("e2e-measurements.json") for k, v in report.items()
    }

    record_property("molecule_seconds", round(result.seconds))
    status = "passed" if result.ok else "FAILED"
    lines = [f"molecule connector_e2e: {status} in {result.seconds:.0f} s"]
    lines += [f"  {name}: {value}" for name, value in sorted(measured.items())]
    for name, value in measured.items():
        record_property(name, value)
    with capsys.disabled():
        print("\n" + "\n".join(lines))

    assert result.ok, result.failure_report()
    assert "recovery_after_hub_restart_s" in measured, f"verifier did not run; log {result.log}"
