"""What platform teams' misconfiguration scanners say about every rendered city and
every environment's platform stack: each finding is fixed in the render or waived,
with its reason, in tests/security/waivers.yaml; a waiver that no longer matches
anything fails too, so the file stays true."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from ociam.render.platform import RenderedPlatform
from ociam.render.service import RenderedCity
from tests.realsys.rootfs import BuildError
from tests.realsys.scanners import Finding, scan_checkov, scan_trivy, split_objects
from tests.security.waivers import WAIVER_FILE, load_waivers, unused, unwaived

SCANNERS: dict[str, Callable[[Path], list[Finding]]] = {
    "checkov": scan_checkov,
    "trivy": scan_trivy,
}
WAIVERS = load_waivers()


@pytest.fixture(scope="session")
def scan_root(
    tmp_path_factory: pytest.TempPathFactory,
    city_renders: dict[tuple[str, str], RenderedCity],
    platform_renders: dict[str, RenderedPlatform],
) -> Path:
    # one directory per stack, named like the Pulumi stacks (trivy skips a top-level
    # directory named dev, as it skips /dev when it scans a root filesystem)
    stacks = {f"{env}-{city}": r.objects for (env, city), r in city_renders.items()}
    stacks |= {f"platform-{env}": p.objects for env, p in platform_renders.items()}
    return split_objects(stacks, tmp_path_factory.mktemp("scan"))


class Scans:
    """Each scanner run once per session, when a test first asks for it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._found: dict[str, list[Finding]] = {}

    def __getitem__(self, scanner: str) -> list[Finding]:
        if scanner not in self._found:
            try:
                self._found[scanner] = SCANNERS[scanner](self.root)
            except BuildError as error:
                pytest.fail(f"{scanner}: {error}")
        return self._found[scanner]


@pytest.fixture(scope="session")
def findings(scan_root: Path) -> Scans:
    return Scans(scan_root)


def test_every_waiver_is_reviewable() -> None:
    problems = [p for waiver in WAIVERS for p in waiver.problems()]
    assert problems == []
    assert {w.scanner for w in WAIVERS} <= set(SCANNERS)
    keys = [(w.scanner, w.check) for w in WAIVERS]
    assert len(keys) == len(set(keys)), "one entry per scanner and check ID"


@pytest.mark.parametrize("scanner", sorted(SCANNERS))
def test_the_scanner_saw_every_render(
    scanner: str,
    findings: Scans,
    scan_root: Path,
    city_renders: dict[tuple[str, str], RenderedCity],
) -> None:
    # every stack was scanned (checkov and trivy both fail the Keycloak StatefulSet on
    # something waived, so each city shows up in the findings)
    stacks = {p.parent.relative_to(scan_root).as_posix() for p in scan_root.rglob("*.yaml")}
    cities = {s for s in stacks if not s.startswith("platform-")}
    assert len(cities) == len(city_renders)
    assert cities <= {f.stack for f in findings[scanner]}
    assert {s for s in stacks if s.startswith("platform-")} == {
        "platform-dev",
        "platform-staging",
        "platform-prod",
    }


@pytest.mark.parametrize("scanner", sorted(SCANNERS))
def test_every_finding_is_fixed_or_waived(scanner: str, findings: Scans) -> None:
    new = unwaived(findings[scanner], WAIVERS)
    assert not new, (
        f"{scanner}: {len(new)} findings neither fixed in the render nor waived in "
        f"{WAIVER_FILE.name} (fix the render, or waive the check ID there with a reason):\n  "
        + "\n  ".join(str(f) for f in new[:60])
    )


@pytest.mark.parametrize("scanner", sorted(SCANNERS))
def test_every_waiver_still_matches_a_finding(scanner: str, findings: Scans) -> None:
    stale = unused(findings[scanner], WAIVERS, scanner)
    assert not stale, (
        f"waivers in {WAIVER_FILE.name} that match no finding any more (remove them):\n  "
        + "\n  ".join(stale)
    )
