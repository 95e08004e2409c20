"""The control-plane fixture's clean-up "whatever happened", without a control plane: the
startup (``_start``) is replaced by one that starts real processes through the same
supervisor (a shell and the process it forks, in one process group), so that what
``control_plane()`` stops and removes is real; then the block raises, or the startup does.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.realsys import control_plane as cp

#: a component that forks a child and waits: both must be gone after the clean-up
FORKING = "sleep 300 & echo $! > child.pid; wait"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    return stat.split(") ", 1)[1][0] != "Z"  # a zombie is not running


@pytest.fixture
def bin_dir(tmp_path: Path) -> Path:
    """What ``control_plane()`` checks is there before it starts anything (never run)."""
    directory = tmp_path / "bin"
    (directory / "kwok-stages").mkdir(parents=True)
    for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
        (directory / name).write_text("", encoding="utf-8")
    for stage in cp.KWOK_STAGES:
        (directory / "kwok-stages" / stage).write_text("", encoding="utf-8")
    return directory


class Started:
    """What the stand-in startup did; ``fail`` makes it raise after starting them."""

    def __init__(self) -> None:
        self.directory: Path | None = None
        self.pids: list[int] = []
        self.fail = False


def _pid_in(path: Path) -> int | None:
    text = path.read_text(encoding="utf-8").strip() if path.exists() else ""
    return int(text) if text else None


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> Iterator[Started]:
    record = Started()

    def start(supervisor: Any, bin_dir: Path, crd_dir: Path, nodes: int) -> Any:
        record.directory = supervisor.directory
        for name in ("etcd", "kube-apiserver"):
            process = supervisor.start(name, ["sh", "-c", FORKING])
            record.pids.append(process.pid)
        pid_file = supervisor.directory / "child.pid"
        record.pids.append(cp.wait_for("the forked child's pid", lambda: _pid_in(pid_file), 10))
        if record.fail:
            raise TimeoutError("kube-apiserver ready: not within 120 s")
        return "plane"

    monkeypatch.setattr(cp, "_start", start)
    yield record
    for pid in record.pids:  # never leave one behind, even when an assertion failed
        if _alive(pid):
            os.kill(pid, 9)


def _assert_cleaned_up(record: Started) -> None:
    assert record.directory is not None and len(record.pids) == 3
    assert not record.directory.exists()
    assert [pid for pid in record.pids if _alive(pid)] == []
    assert all(s.directory != record.directory for s in cp._LIVE)


def test_a_failing_block_stops_every_process_and_removes_the_directory(
    bin_dir: Path, tmp_path: Path, started: Started
) -> None:
    failed = pytest.raises(RuntimeError, match="the test failed")
    with failed, cp.control_plane(bin_dir, crd_dir=tmp_path):
        assert started.directory is not None and started.directory.is_dir()
        assert all(_alive(pid) for pid in started.pids)
        raise RuntimeError("the test failed")
    _assert_cleaned_up(started)


def test_a_failing_startup_is_one_error_and_cleans_up_too(
    bin_dir: Path, tmp_path: Path, started: Started
) -> None:
    started.fail = True
    refused = pytest.raises(cp.ControlPlaneError, match="control plane did not start: kube-api")
    with refused, cp.control_plane(bin_dir, crd_dir=tmp_path):
        pytest.fail("the block ran although the startup failed")
    _assert_cleaned_up(started)
