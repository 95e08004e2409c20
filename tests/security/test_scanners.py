"""What platform teams' misconfiguration scanners say about every rendered city and
every environment's platform stack: each finding is fixed in the render or waived,
with its reason, in tests/security/waivers.yaml; a waiver that no longer matches
anything fails too, so the file stays true. Each scanner must have evaluated, per
render, every object of the kinds it has checks for (a scanner that silently parses
nothing fails), and a render made worse on purpose must fail on the new check."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ociam.render.platform import RenderedPlatform
from ociam.render.service import RenderedCity
from tests.realsys.rootfs import BuildError
from tests.realsys.scanners import SEPARATOR, Scan, scan_checkov, scan_trivy, split_objects
from tests.security.waivers import WAIVER_FILE, load_waivers, unused, unwaived

SCANNERS: dict[str, Callable[[Path], Scan]] = {
    "checkov": scan_checkov,
    "trivy": scan_trivy,
}
WAIVERS = load_waivers()
#: the kinds of the renders each scanner has checks for (None: every kind). checkov's
#: Kubernetes framework has none for NetworkPolicy, Namespace, the quota objects, the
#: PodDisruptionBudget, the gateway, cert-manager, CloudNativePG or monitoring kinds, so
#: it evaluates nothing of the platform render (trivy judges that one)
EVALUATED_KINDS: dict[str, frozenset[str] | None] = {
    "checkov": frozenset(
        {"ConfigMap", "Job", "Secret", "Service", "ServiceAccount", "StatefulSet"}
    ),
    "trivy": None,
}
#: what making the Keycloak container privileged must raise, per scanner
PRIVILEGED_CHECKS = {"checkov": "CKV_K8S_16", "trivy": "KSV-0017"}


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
        self._found: dict[str, Scan] = {}

    def __getitem__(self, scanner: str) -> Scan:
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
    assert cities <= {f.stack for f in findings[scanner].findings}
    assert {s for s in stacks if s.startswith("platform-")} == {
        "platform-dev",
        "platform-staging",
        "platform-prod",
    }


@pytest.mark.parametrize("scanner", sorted(SCANNERS))
def test_every_finding_is_fixed_or_waived(scanner: str, findings: Scans) -> None:
    new = unwaived(findings[scanner].findings, WAIVERS)
    assert not new, (
        f"{scanner}: {len(new)} findings neither fixed in the render nor waived in "
        f"{WAIVER_FILE.name} (fix the render, or waive the check ID there with a reason):\n  "
        + "\n  ".join(str(f) for f in new[:60])
    )


@pytest.mark.parametrize("scanner", sorted(SCANNERS))
def test_every_waiver_still_matches_a_finding(scanner: str, findings: Scans) -> None:
    stale = unused(findings[scanner].findings, WAIVERS, scanner)
    assert not stale, (
        f"waivers in {WAIVER_FILE.name} that match no finding any more (remove them):\n  "
        + "\n  ".join(stale)
    )


def _objects(directory: Path) -> set[str]:
    """``Kind/name`` of every object split_objects wrote into one stack's directory."""
    return {"/".join(p.stem.split(SEPARATOR, 1)) for p in directory.glob("*.yaml")}


@pytest.mark.parametrize("scanner", sorted(SCANNERS))
def test_the_scanner_evaluated_every_object_it_has_checks_for(
    scanner: str, findings: Scans, scan_root: Path
) -> None:
    """Per render: the objects the scanner ran a check on are exactly those of the
    kinds it has checks for (all of them for trivy), so a scanner that parses nothing
    of a render, or stops checking a kind, fails here rather than finding nothing."""
    kinds = EVALUATED_KINDS[scanner]
    scan = findings[scanner]
    wrong = []
    counts = {}
    for directory in sorted(p for p in scan_root.iterdir() if p.is_dir()):
        stack = directory.name
        expected = {o for o in _objects(directory) if kinds is None or o.split("/")[0] in kinds}
        actual = scan.evaluated_in(stack)
        counts[stack] = len(actual)
        if actual != expected:
            wrong.append(
                f"{stack}: evaluated {len(actual)} of the {len(expected)} expected; not "
                f"evaluated {sorted(expected - actual)}, unexpected {sorted(actual - expected)}"
            )
    assert not wrong, f"{scanner}:\n  " + "\n  ".join(wrong)
    cities = [n for stack, n in counts.items() if not stack.startswith("platform-")]
    platforms = [n for stack, n in counts.items() if stack.startswith("platform-")]
    assert len(platforms) == 3 and cities and min(cities) > 0
    # checkov has no check for any kind of the platform render; trivy judges it
    assert all(n == 0 for n in platforms) if scanner == "checkov" else min(platforms) > 0


def _privileged(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The objects with the Keycloak StatefulSet's container made privileged."""
    changed = copy.deepcopy(objects)
    (keycloak,) = [o for o in changed if o["kind"] == "StatefulSet"]
    (container,) = [
        c for c in keycloak["spec"]["template"]["spec"]["containers"] if c["name"] == "keycloak"
    ]
    container["securityContext"]["privileged"] = True
    return changed


@pytest.fixture(scope="module")
def privileged_root(
    tmp_path_factory: pytest.TempPathFactory, city_renders: dict[tuple[str, str], RenderedCity]
) -> Path:
    objects = _privileged(list(city_renders[("dev", "demo")].objects))
    return split_objects({"dev-demo": objects}, tmp_path_factory.mktemp("scan-privileged"))


@pytest.mark.parametrize("scanner", sorted(SCANNERS))
def test_a_new_finding_fails_until_fixed_or_waived(scanner: str, privileged_root: Path) -> None:
    """dev/demo with a privileged Keycloak container (one render, each scanner once):
    the scanner reports the new check on the StatefulSet, and no waiver covers it."""
    try:
        scan = SCANNERS[scanner](privileged_root)
    except BuildError as error:
        pytest.fail(f"{scanner}: {error}")
    new = unwaived(scan.findings, WAIVERS)
    assert PRIVILEGED_CHECKS[scanner] in {f.check for f in new}, [str(f) for f in new]
    assert {f.object for f in new} == {"StatefulSet/keycloak"}, [str(f) for f in new]
