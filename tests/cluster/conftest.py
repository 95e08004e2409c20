"""The cluster tier (pytest marker ``cluster``, given to every test under tests/cluster).

Fixture ``control_plane`` (session scope): one real control plane for the whole session
(tests/realsys/control_plane.py: etcd, kube-apiserver with RBAC and Pod Security
admission, kube-controller-manager, kube-scheduler, kwok with one fake Node, the CRDs of
``OCIAM_CRD_DIR`` installed and Established). When the toolchain is not built the
fixture FAILS with ``require_toolchain()``'s message (never skips). It is a frozen
``ControlPlane``:

* ``kubeconfig: Path``: a self-contained kubeconfig, context ``context`` (``ociam-test``),
  user ``admin`` (client certificate, group ``system:masters``);
* ``server: str``: ``https://127.0.0.1:<port>``;
* ``bin_dir: Path``: the toolchain's bin directory (pulumi, pulumi-language-python,
  pulumi-resource-kubernetes, pulumi-resource-random, kube binaries, etcd, kwok);
* ``env(base=None) -> dict[str, str]``: ``base`` (default ``os.environ``) with
  ``KUBECONFIG`` set and ``bin_dir`` first on ``PATH``, for subprocesses (``ociam``,
  ``pulumi``);
* ``client: KubeClient``: the admin's HTTP client: ``get(api_version, kind, name,
  namespace=None) -> dict | None``, ``list(api_version, kind, namespace=None,
  label_selector=None)``, ``create(obj, dry_run=False)``, ``apply(obj, dry_run,
  field_manager=..., force=True)`` (server-side apply), both returning ``(object,
  warnings)``; ``delete(api_version, kind, name, namespace=None,
  propagation="Background") -> bool``; ``request(method, path, ...)`` for anything
  else. An error status raises ``ApiError`` (``status``, ``reason``, ``message``,
  ``warnings``);
* ``nodes``, ``crds``, ``startup_seconds``, ``startup_phases``, ``directory`` (removed
  at the end), ``log_tails()``, ``check_running()``.

``tests.realsys.control_plane.wait_for(what, probe, timeout)`` polls until ``probe``
returns something other than None.

The control plane is shared: a test module that creates objects removes them before it
ends and waits until they are gone (namespaces included), so that the next module finds
the cluster as the fixture made it. When a test that uses the control plane fails, the
last lines of every component's log are added to its report.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from tests.realsys.control_plane import ControlPlane, ControlPlaneError
from tests.realsys.control_plane import control_plane as start_control_plane
from tests.realsys.rootfs import BuildError
from tests.realsys.toolchain import require_toolchain

HERE = Path(__file__).parent
_RUNNING: list[ControlPlane] = []


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def control_plane() -> Iterator[ControlPlane]:
    try:
        bin_dir = require_toolchain()
    except BuildError as error:
        missing = str(error)
    else:
        missing = ""
    if missing:  # a failure, never a skip: the tier did not run
        pytest.fail(missing, pytrace=False)
    with start_control_plane(bin_dir) as plane:
        print(f"\ncontrol plane ready in {plane.startup_seconds:.1f} s: {plane.startup_phases}")
        _RUNNING.append(plane)
        try:
            yield plane
        finally:
            _RUNNING.remove(plane)


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Stop the control plane once the tier's last test (and its modules' clean-up) ran,
    not at the end of the session: the tiers that follow (Keycloak pods, Molecule) need
    the machine's CPU, memory and ports."""
    if nextitem is not None and HERE in nextitem.path.parents:
        return
    if HERE in item.path.parents:
        for plane in _RUNNING:
            plane.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed and _RUNNING and "control_plane" in getattr(item, "fixturenames", ()):
        plane = _RUNNING[-1]
        try:
            plane.check_running()
            expected = call.excinfo is not None and call.excinfo.errisinstance(
                (AssertionError, pytest.fail.Exception)
            )
        except ControlPlaneError as error:
            report.sections.append(("control plane", str(error)))
            expected = False
        if not expected:  # not a verdict on the rendered objects: the cluster may be why
            report.sections.append(("control plane logs", plane.log_tails(20)))
    return report
