"""The hardening role's Molecule scenario, on Debian 12 and Debian 13.

One `molecule test` run: destroy, create, prepare, check (converge in check
mode on the fresh hosts), converge, idempotence (second run changed=0),
verify, destroy. The verifier (roles/hardening/molecule/default/verify.yml)
checks the controls from inside the hosts and over the network, runs the
harden playbook over SSH in check mode and with a configuration that would
lock the admin out, and fails below the Lynis hardening index threshold.
This test fails when Molecule fails, and records the Lynis index per host.
"""

from __future__ import annotations

import pytest

from tests.molecule.molecule_runner import PROJECT_ROOT, run_scenario

pytestmark = pytest.mark.molecule

ROLE_DIR = PROJECT_ROOT / "roles" / "hardening"
HOSTS = {"ociam-hardening-debian12", "ociam-hardening-debian13"}


def test_hardening_scenario(
    record_property: pytest.RecordProperty, capsys: pytest.CaptureFixture[str]
) -> None:
    result = run_scenario(ROLE_DIR, "default")
    lynis = {report["host"]: report for report in result.reports("lynis-*.json")}

    record_property("molecule_seconds", round(result.seconds))
    status = "passed" if result.ok else "FAILED"
    lines = [f"molecule hardening/default: {status} in {result.seconds:.0f} s"]
    for host, report in sorted(lynis.items()):
        record_property(f"lynis_{host}", report["hardening_index"])
        record_property(f"lynis_{host}_without_host_kernel", report["index_without_host_kernel"])
        lines.append(
            f"  Lynis {report['lynis_version']} hardening index {host}: "
            f"{report['index_without_host_kernel']} without the host kernel's sysctls "
            f"(gate {report['threshold']}), {report['hardening_index']} as reported"
        )
    with capsys.disabled():
        print("\n" + "\n".join(lines))

    assert result.ok, result.failure_report()
    assert set(lynis) == HOSTS, f"Lynis reports missing: got {sorted(lynis)}; log {result.log}"
