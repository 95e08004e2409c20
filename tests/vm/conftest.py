"""Session fixtures of the ``vm`` tier: one Debian 12 VM, booted once, hardened once, rebooted once.

Prerequisites (installed by .ci/bootstrap): qemu-system-x86 and qemu-utils,
the VM image and the SCAP content (``python -m tests.vm.image``). A missing
one fails every test of the tier with the reason; nothing is skipped and
nothing is built at test time.

The long steps (boot, baseline, two playbook runs, the two scanners) start in
the background as soon as collection has selected a ``vm`` test and overlap
the rest of the suite (tests/vm/pipeline.py); the tests wait for them. The
checks of ``test_vm_hardening.py`` then run on the converged VM and again after
a reboot (the ``host`` fixture's two phases).
"""

from __future__ import annotations

import pytest

from tests.vm.machine import Machine, VmError
from tests.vm.pipeline import Pipeline, Session, start_listeners

#: measured durations and figures, printed at the end of the run
SUMMARY = pytest.StashKey[list[str]]()
PIPELINE = pytest.StashKey[Pipeline]()


def note(config: pytest.Config, line: str) -> None:
    config.stash.setdefault(SUMMARY, []).append(line)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the VM's long steps now if any ``vm`` test is to run."""
    config = session.config
    if config.option.collectonly or PIPELINE in config.stash:
        return
    if not any(item.get_closest_marker("vm") for item in session.items):
        return
    workdir = config._tmp_path_factory.mktemp("vm")  # type: ignore[attr-defined]
    pipeline = Pipeline(workdir, lambda line: note(config, line))
    config.stash[PIPELINE] = pipeline
    pipeline.start()


def pytest_sessionfinish(session: pytest.Session) -> None:
    pipeline = session.config.stash.get(PIPELINE, None)
    if pipeline is not None:
        pipeline.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(SUMMARY, [])
    if lines:
        terminalreporter.section("vm tier")
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def hardened(request: pytest.FixtureRequest) -> Session:
    """The VM after the harden playbook ran twice over SSH and the scanners ran."""
    pipeline = request.config.stash.get(PIPELINE, None)
    if pipeline is None:
        pytest.fail("the VM pipeline was not started at collection", pytrace=False)
    try:
        return pipeline.result()
    except VmError as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session", params=["converged", "rebooted"])
def host(request: pytest.FixtureRequest, hardened: Session) -> Machine:
    """The hardened VM as converged, then (second phase) after a reboot."""
    if request.param == "rebooted" and not hardened.rebooted:
        try:
            seconds = hardened.machine.reboot()
            start_listeners(hardened.machine)
        except VmError as exc:
            pytest.fail(f"the hardened VM did not come back after a reboot: {exc}", pytrace=False)
        hardened.rebooted = True
        note(
            request.config, f"reboot of the hardened VM (to the admin's SSH login): {seconds:.0f} s"
        )
    return hardened.machine
