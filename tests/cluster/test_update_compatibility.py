"""Keycloak's own update-compatibility decision, with the real distributions (Maven
Central's keycloak-quarkus-dist, tests/cluster/keycloak_dists.py) run in the Keycloak
test image (Debian trixie's OpenJDK 21; ``OCIAM_JAVA_IMAGE``), not on whatever JDK this
machine happens to have (Debian 12's apt has 17): ``kc.sh update-compatibility
metadata`` by the old version with the options the city's server runs with, ``check``
by the catalog's pinned version.

What Keycloak said when this was written (recorded, not assumed; the tests hold it to
that so that a change of Keycloak's answer is seen):

* patch, 26.7.3 -> 26.7.4: exit 0, ``[OK] Rolling Update is available.`` (every provider
  compatible): ociam rolls the StatefulSet;
* minor, 26.5.6 -> 26.7.4: exit 3, ``[cacheEmbedded] Rolling Update is not available``
  (Infinispan 15.0.19.Final -> 16.0, JGroups 5.3.16 -> 5.5, cache owners settings):
  ociam recreates, the outage named.

The 26.5 server runs without ``--features-disabled=identity-brokering-api,twitter-broker``:
26.5 does not know those features (its kc.sh refuses them, exit 2), so a 26.5
deployment could not have had them. No control plane is needed; the marker is the
cluster tier's because of the time (the JVM re-augments the server for each command:
about 35 s each on an idle machine; the two pairs run at once).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from ociam.components.keycloak import server_options
from ociam.upgrades.compat import CompatResult, check_versions
from tests.cluster.keycloak_dists import cached, java_environ, java_image, pinned, pins
from tests.realsys.rootfs import BuildError

NOT_IN_26_5 = "--features-disabled=identity-brokering-api,twitter-broker"


def _environ() -> dict[str, str]:
    try:
        places = [cached(v) for v in (pinned(), *pins().values())]
        java = java_environ()
    except BuildError as error:
        pytest.fail(str(error), pytrace=False)
    environ = {k: v for k, v in os.environ.items() if k != "OCIAM_JAVA_HOME"}
    return {**environ, "OCIAM_KEYCLOAK_DIST_DIR": os.pathsep.join(map(str, places)), **java}


@pytest.fixture(scope="module")
def decisions() -> dict[str, CompatResult]:
    """Both pairs at once (each JVM run is mostly one thread): patch and minor."""
    environ = _environ()
    old_options = [o for o in server_options() if o != NOT_IN_26_5]
    assert len(old_options) == len(server_options()) - 1
    runs = {
        "patch": (pins()["patch_from"], list(server_options())),
        "minor": (pins()["minor_from"], old_options),
    }
    with ThreadPoolExecutor(2) as pool:
        futures = {
            name: pool.submit(
                check_versions, old, options, pinned(), server_options(), environ,
                use_cache=False,
            )
            for name, (old, options) in runs.items()
        }  # fmt: skip
        results = {name: future.result() for name, future in futures.items()}
    for result in results.values():
        print(result.line())
    return results


def test_a_patch_bump_may_roll(decisions: dict[str, CompatResult]) -> None:
    result = decisions["patch"]
    assert result.exit_code == 0, result.line()
    assert result.java == f"image {java_image()} (podman)"  # not this machine's JDK
    assert result.decision == "rolling"
    assert "[OK] Rolling Update is available." in result.said


def test_a_minor_bump_must_recreate(decisions: dict[str, CompatResult]) -> None:
    result = decisions["minor"]
    assert result.exit_code == 3, result.line()
    assert result.java == f"image {java_image()} (podman)"
    assert result.decision == "recreate"
    assert "[cacheEmbedded] Rolling Update is not available" in result.said


def test_the_distributions_are_the_pinned_ones() -> None:
    for version in (pinned(), *pins().values()):
        assert (cached(version) / f"keycloak-quarkus-dist-{version}.zip").is_file()
    assert Path(__file__).parent.name == "cluster"
