"""The two scanners run inside the VM: OpenSCAP (ANSSI BP-028 intermediary) and Lynis."""

from __future__ import annotations

import json
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.vm import image
from tests.vm.machine import Machine

ROOT = Path(__file__).resolve().parents[2]
LYNIS_INDEX = ROOT / "tests" / "molecule" / "lynis_index.py"
PROFILE = "xccdf_org.ssgproject.content_profile_anssi_bp28_intermediary"
RULE_PREFIX = "xccdf_org.ssgproject.content_rule_"
XCCDF = "{http://checklists.nist.gov/xccdf/1.2}"
#: results that count as failing: a rule that cannot be evaluated is not a pass
FAILING = frozenset({"fail", "error", "unknown"})


class ScannerCrashed(AssertionError):
    """The scanner died of a signal (OpenSCAP 1.3.7's probe workers segfault now and then:
    seen here once in its sysctl probe); not a result of the rules."""


@dataclass(frozen=True)
class OpenScap:
    results: dict[str, str]
    seconds: float

    @property
    def failing(self) -> list[str]:
        return sorted(rule for rule, result in self.results.items() if result in FAILING)

    def count(self, result: str) -> int:
        return sum(1 for value in self.results.values() if value == result)


def openscap(machine: Machine) -> OpenScap:
    """``oscap xccdf eval`` of the profile in the guest, as root; rule id (short) -> result."""
    machine.copy_in(image.ssg_datastream(), "/tmp/ssg-debian12-ds.xml")
    started = time.monotonic()
    code = machine.root(
        f"oscap xccdf eval --profile {PROFILE} --results /tmp/oscap-results.xml"
        " /tmp/ssg-debian12-ds.xml >/tmp/oscap.out 2>&1; echo $?",
        timeout=3600,
    ).strip()
    seconds = time.monotonic() - started
    if code not in {"0", "2"}:  # 2: some rule failed
        message = f"oscap exited {code}: {machine.root('tail -n 30 /tmp/oscap.out')}"
        raise (ScannerCrashed if code.isdigit() and int(code) >= 128 else AssertionError)(message)
    machine.root("install -m 0644 /tmp/oscap-results.xml /home/ociam-admin/oscap-results.xml")
    local = machine.workdir / f"oscap-results-{int(started)}.xml"
    machine.copy_out("/home/ociam-admin/oscap-results.xml", local)
    results = {
        rule.get("idref", "").removeprefix(RULE_PREFIX): rule.findtext(f"{XCCDF}result", "")
        for rule in ET.parse(local).iter(f"{XCCDF}rule-result")
    }
    return OpenScap(results, seconds)


def lynis(machine: Machine) -> dict[str, Any]:
    """Lynis' figures from tests/molecule/lynis_index.py (on a VM, KRNL-6000 is its own kernel)."""
    machine.copy_in(LYNIS_INDEX, "/tmp/lynis_index.py")
    machine.root(
        "lynis audit system --cronjob --skip-plugins >/dev/null 2>&1 || true", timeout=3600
    )
    figures: dict[str, Any] = json.loads(machine.root("python3 /tmp/lynis_index.py"))
    return figures
