"""How findings are held to the waivers (tests/security/waivers.py), on hand-made
findings: what a waiver covers, what is left unwaived, which waiver patterns are
stale, and what makes a waiver unreviewable."""

from __future__ import annotations

from tests.realsys.scanners import Finding
from tests.security.waivers import MIN_REASON, Waiver, unused, unwaived

REASON = "a reason long enough to say why the check does not apply here, " * 2


def _finding(check: str, kind: str, name: str, scanner: str = "trivy") -> Finding:
    return Finding(scanner, check, "dev-demo", kind, name, "LOW", "a title")


def _waiver(check: str, *objects: str, scanner: str = "trivy") -> Waiver:
    return Waiver(scanner, check, "a title", REASON, objects)


def test_a_waiver_covers_its_scanner_check_and_objects_only() -> None:
    waiver = _waiver("KSV-0020", "StatefulSet/keycloak", "Job/realm-config-apply-*")
    assert waiver.covers(_finding("KSV-0020", "StatefulSet", "keycloak"))
    assert waiver.covers(_finding("KSV-0020", "Job", "realm-config-apply-0123456789"))
    # another check, scanner, kind or name is not covered
    assert not waiver.covers(_finding("KSV-0021", "StatefulSet", "keycloak"))
    assert not waiver.covers(_finding("KSV-0020", "StatefulSet", "keycloak", "checkov"))
    assert not waiver.covers(_finding("KSV-0020", "Deployment", "keycloak"))
    assert not waiver.covers(_finding("KSV-0020", "StatefulSet", "keycloak-db"))
    assert not waiver.covers(_finding("KSV-0020", "Job", "realm-config-bootstrap-0123456789"))
    # patterns match case-sensitively
    assert not waiver.covers(_finding("KSV-0020", "statefulset", "keycloak"))


def test_unwaived_keeps_exactly_the_findings_no_waiver_covers() -> None:
    waivers = [_waiver("KSV-0039", "Secret/*", "Service/*"), _waiver("KSV-0007", "Pod/x")]
    covered = [_finding("KSV-0039", "Secret", "a"), _finding("KSV-0039", "Service", "b")]
    new = [
        _finding("KSV-0039", "StatefulSet", "keycloak"),
        _finding("KSV-0017", "Secret", "a"),
        _finding("KSV-0007", "Pod", "x", "checkov"),
    ]
    assert unwaived(covered + new, waivers) == new
    assert unwaived(covered, waivers) == []
    assert unwaived(covered, []) == covered


def test_a_waiver_pattern_no_finding_matches_is_stale() -> None:
    waivers = [
        _waiver("KSV-0039", "Secret/*", "ConfigMap/*"),
        _waiver("KSV-0007", "StatefulSet/keycloak"),
        _waiver("CKV_K8S_15", "StatefulSet/keycloak", scanner="checkov"),
    ]
    found = [
        _finding("KSV-0039", "Secret", "a"),
        # the right object under another check keeps KSV-0007 stale
        _finding("KSV-0020", "StatefulSet", "keycloak"),
    ]
    assert unused(found, waivers, "trivy") == [
        "trivy KSV-0039 ConfigMap/*",
        "trivy KSV-0007 StatefulSet/keycloak",
    ]
    # only the asked scanner's waivers are judged
    assert unused(found, waivers, "checkov") == ["checkov CKV_K8S_15 StatefulSet/keycloak"]
    assert unused([*found, _finding("KSV-0039", "ConfigMap", "b")], waivers[:1], "trivy") == []


def test_an_unreviewable_waiver_is_reported() -> None:
    assert _waiver("KSV-0039", "Secret/*").problems() == []
    problems = Waiver("trivy", "KSV-*", "", "too short", ("*/keycloak", "Secret")).problems()
    assert problems == [
        "trivy KSV-*: a check ID, not a pattern",
        f"trivy KSV-*: the reason must say why (at least {MIN_REASON} characters)",
        "trivy KSV-*: no title",
        "trivy KSV-*: '*/keycloak' is a blanket pattern",
        "trivy KSV-*: 'Secret' is a blanket pattern",
    ]
    assert _waiver("KSV-0039").problems() == ["trivy KSV-0039: names no objects"]
