"""Session fixtures of the ``logins`` tier: people log in to a rendered city for real.

``login_city`` is the demo city of tests/logins/city.py (rendered from a
scratch catalog, its AD's domain controllers, its Keycloak pod, the employees
realm imported). Prerequisites are the keycloak tier's plus the OpenLDAP
image (``python -m tests.realsys.prepare``); a missing one fails every test of
the tier with the reason.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.keycloak.conftest import CONTAINERS_CONF, _require_prerequisites
from tests.logins.city import (
    CITY,
    ENV,
    SUBSTITUTED_SECRET,
    LoginCity,
    secret_env,
    start_direct_city,
)
from tests.realsys.ad_directory import openldap_tag
from tests.realsys.pod_runner import exists, remove_test_objects

__all__ = ["CITY", "ENV", "SUBSTITUTED_SECRET", "LoginCity", "secret_env"]

#: one logins tier per machine at a time (fixed container and network names)
MACHINE_LOCK = Path("/run/lock/ociam-logins-tier.lock")
#: what the tier started, released as soon as its last test is done (not at the end of
#: the whole session: the Molecule scenarios that follow need the machine's memory and CPU)
CLEANUPS = pytest.StashKey[list[Callable[[], None]]]()
HERE = Path(__file__).resolve().parent


@pytest.hookimpl(trylast=True)  # after the fixtures of the tier's modules are torn down
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    if nextitem is not None and Path(nextitem.path).is_relative_to(HERE):
        return
    for cleanup in item.session.stash.get(CLEANUPS, []):
        cleanup()
    item.session.stash[CLEANUPS] = []


@pytest.fixture(scope="session")
def login_city(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LoginCity]:
    os.environ.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    _require_prerequisites()
    if not exists("image", openldap_tag()):
        pytest.fail(
            f"the logins tier cannot run: image {openldap_tag()} is missing. Run .ci/bootstrap "
            "(python -m tests.realsys.prepare).",
            pytrace=False,
        )
    with MACHINE_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        remove_test_objects()
        city = start_direct_city(tmp_path_factory.mktemp("logins-tier"))
        request.session.stash.setdefault(CLEANUPS, []).append(city.close)
        try:
            yield city
        finally:
            city.close()
