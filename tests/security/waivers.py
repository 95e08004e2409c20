"""The reviewed waivers of scanner findings (tests/security/waivers.yaml), and how
findings are held to them.

A waiver names one scanner's check ID, the reason, and the objects it covers as
``Kind/name`` patterns (``fnmatch``; a Job's content hash may be ``*``; ``Kind/*`` is
every object of that kind). A finding is waived when a waiver of its scanner and check
covers its object. No wildcard check ID, no pattern that covers every kind.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.realsys.scanners import Finding

WAIVER_FILE = Path(__file__).with_name("waivers.yaml")
MIN_REASON = 60


@dataclass(frozen=True)
class Waiver:
    scanner: str
    check: str
    title: str
    reason: str
    objects: tuple[str, ...]

    def covers(self, finding: Finding) -> bool:
        return (
            finding.scanner == self.scanner
            and finding.check == self.check
            and any(fnmatch.fnmatchcase(finding.object, p) for p in self.objects)
        )

    def problems(self) -> list[str]:
        """What makes this waiver unreviewable: no reason, a blanket pattern."""
        where = f"{self.scanner} {self.check}"
        found = []
        if any(c in self.check for c in "*?["):
            found.append(f"{where}: a check ID, not a pattern")
        if len(" ".join(self.reason.split())) < MIN_REASON:
            found.append(f"{where}: the reason must say why (at least {MIN_REASON} characters)")
        if not self.title:
            found.append(f"{where}: no title")
        if not self.objects:
            found.append(f"{where}: names no objects")
        for pattern in self.objects:
            kind, _, name = pattern.partition("/")
            if not kind or not name or any(c in kind for c in "*?["):
                found.append(f"{where}: {pattern!r} is a blanket pattern")
        return found


def load_waivers(path: Path = WAIVER_FILE) -> list[Waiver]:
    data: dict[str, dict[str, dict[str, Any]]] = yaml.safe_load(path.read_text("utf-8"))
    return [
        Waiver(
            scanner,
            check,
            str(entry.get("title", "")),
            str(entry.get("reason", "")),
            tuple(entry.get("objects", ())),
        )
        for scanner, checks in data.items()
        for check, entry in checks.items()
    ]


def unwaived(findings: Iterable[Finding], waivers: list[Waiver]) -> list[Finding]:
    return [f for f in findings if not any(w.covers(f) for w in waivers)]


def unused(findings: Iterable[Finding], waivers: list[Waiver], scanner: str) -> list[str]:
    """Waiver patterns of ``scanner`` that cover no finding (the file must stay true)."""
    listed = list(findings)
    stale = []
    for waiver in waivers:
        if waiver.scanner != scanner:
            continue
        for pattern in waiver.objects:
            single = Waiver(waiver.scanner, waiver.check, waiver.title, waiver.reason, (pattern,))
            if not any(single.covers(f) for f in listed):
                stale.append(f"{scanner} {waiver.check} {pattern}")
    return stale
