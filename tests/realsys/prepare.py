"""Everything the real-system test tiers need that is built or fetched, once per machine.

    .venv/bin/python -m tests.realsys.prepare [--force]

Called by .ci/bootstrap. Builds the Keycloak, PostgreSQL and OpenLDAP images
(tests/realsys/images.py) and fetches the libraries of the keycloak-config-cli
substitution harness (tests/keycloak/config_cli.py) from Maven Central into
the cache. Tests only read what this prepared; they never download.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from tests.keycloak.config_cli import fetch_substitution_jars
from tests.realsys.ad_directory import build_openldap
from tests.realsys.images import build_keycloak, build_postgresql, keycloak_dists
from tests.realsys.rootfs import BuildError


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.realsys.prepare", description=__doc__)
    parser.add_argument("--force", action="store_true", help="rebuild images even when current")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("prepare: must run as root (debootstrap, chroot, rootful podman)", file=sys.stderr)
        return 2
    start = time.monotonic()
    try:
        fetch_substitution_jars()
        build_postgresql(args.force)
        build_openldap(args.force)
        for dist in keycloak_dists():
            build_keycloak(dist, args.force)
    except BuildError as error:
        print(f"prepare: {error}", file=sys.stderr)
        return 1
    print(f"prepare: real-system test tiers ready in {time.monotonic() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
