"""The Keycloak distributions the update-compatibility test runs: the catalog's pinned
version and the older ones of tools/toolchain.toml ``[keycloak_update_compatibility]``,
from Maven Central into the Maven cache (tests/realsys/maven.py), once per machine.

    .venv/bin/python -m tests.cluster.keycloak_dists      # .ci/bootstrap runs it
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

from tests.realsys.images import KEYCLOAK_IMAGE, pinned_keycloak_versions
from tests.realsys.maven import Artifact, fetch, require_cached
from tests.realsys.rootfs import BuildError

ROOT = Path(__file__).parents[2]
CONTAINERS_CONF = ROOT / "tests" / "molecule" / "containers.conf"


def pins() -> dict[str, str]:
    data = tomllib.loads((ROOT / "tools" / "toolchain.toml").read_text(encoding="utf-8"))
    section: dict[str, str] = data["keycloak_update_compatibility"]
    return {"patch_from": section["patch_from"], "minor_from": section["minor_from"]}


def pinned() -> str:
    """The catalog's Keycloak version (one across environments, as the tiers assume)."""
    versions = sorted(set(pinned_keycloak_versions(ROOT)))
    if len(versions) != 1:
        raise BuildError(f"the environments pin several Keycloak versions: {versions}")
    return versions[0]


def artifact(version: str) -> Artifact:
    return Artifact("org.keycloak", "keycloak-quarkus-dist", version, "zip")


def cached(version: str) -> Path:
    """For tests: the cached zip's directory, or a failure saying how to get it."""
    return require_cached(artifact(version)).parent


def java_environ() -> dict[str, str]:
    """What ociam needs to run ``kc.sh`` in :func:`java_image`: the image, and podman's
    configuration on these machines (runc with explicit ulimits, tests/molecule/
    containers.conf: podman's defaults cannot start a container here, and the keycloak
    tier, which sets it for the session, runs after this one)."""
    containers_conf = os.environ.get("CONTAINERS_CONF") or str(CONTAINERS_CONF)
    return {"OCIAM_JAVA_IMAGE": java_image(), "CONTAINERS_CONF": containers_conf}


def java_image() -> str:
    """The Keycloak test image (tests/realsys/images.py: Debian's OpenJDK 21 of
    tools/toolchain.toml ``[keycloak_image]``), for ``OCIAM_JAVA_IMAGE``: ``kc.sh`` runs
    in it under podman, so the tests need no JDK 21 on this machine (Debian 12 has 17)."""
    tag = f"{KEYCLOAK_IMAGE}:{pinned()}"
    found = subprocess.run(["podman", "image", "exists", tag], capture_output=True, check=False)
    if found.returncode != 0:
        why = ".ci/bootstrap builds it (python -m tests.realsys.prepare)"
        raise BuildError(f"no image {tag}: {why}")
    return tag


def main() -> int:
    for version in [pinned(), *pins().values()]:
        try:
            if fetch(artifact(version)) is None:
                print(f"keycloak_dists: Maven Central does not serve {version}", file=sys.stderr)
                return 1
        except BuildError as error:
            print(f"keycloak_dists: {error}", file=sys.stderr)
            return 1
    print("keycloak_dists: ready")
    return 0


if __name__ == "__main__":
    sys.exit(main())
