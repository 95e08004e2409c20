"""Drive a Molecule scenario from pytest, so that pytest's summary counts it.

Shared by the roles' scenario tests (tests/molecule/test_molecule_*.py):

    result = run_scenario(ROLE_DIR, "default")
    assert result.ok, result.failure_report()

Runs `molecule test -s <scenario>` in the role directory with the project's
venv on PATH and tests/molecule/containers.conf as podman's configuration,
after making sure the local base images exist (build-images.sh, cached).
The whole output goes to .cache/molecule/<role>-<scenario>/molecule.log;
files the scenario writes to $OCIAM_MOLECULE_REPORT_DIR land beside it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MOLECULE_DIR = Path(__file__).resolve().parent
IMAGE_BUILDER = MOLECULE_DIR / "images" / "build-images.sh"
CONTAINERS_CONF = MOLECULE_DIR / "containers.conf"
CACHE_DIR = PROJECT_ROOT / ".cache" / "molecule"
EPHEMERAL_DIR = CACHE_DIR / "ephemeral"
VENV_BIN = Path(sys.executable).parent
SCENARIO_TIMEOUT = 20 * 60


@dataclass
class ScenarioResult:
    role: str
    scenario: str
    returncode: int
    seconds: float
    log: Path
    report_dir: Path
    output: str = field(repr=False)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def reports(self, pattern: str) -> list[dict[str, Any]]:
        """JSON documents the scenario wrote to its report directory."""
        return [json.loads(p.read_text()) for p in sorted(self.report_dir.glob(pattern))]

    def failure_report(self, lines: int = 80) -> str:
        tail = "\n".join(self.output.splitlines()[-lines:])
        return (
            f"molecule test -s {self.scenario} ({self.role}) exited {self.returncode} "
            f"after {self.seconds:.0f} s; full log: {self.log}\n{tail}"
        )


def _require_prerequisites() -> None:
    problems = []
    if os.geteuid() != 0:
        problems.append("must run as root (rootful podman, debootstrap)")
    for tool in ("podman", "debootstrap"):
        if shutil.which(tool) is None:
            problems.append(f"'{tool}' is not installed (see .ci/apt-packages.txt)")
    if not (VENV_BIN / "molecule").exists():
        problems.append("molecule is not installed in the venv (pip install -e '.[test]')")
    if problems:
        pytest.fail(
            "Molecule scenarios cannot run: "
            + "; ".join(problems)
            + ". Deselect them with -m 'not molecule'.",
            pytrace=False,
        )


def _environment(report_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            # one known place per scenario (Molecule's default is a hashed name under
            # ~/.ansible/tmp): tests that use the hosts after the run read its PKI there
            "MOLECULE_EPHEMERAL_DIRECTORY": str(EPHEMERAL_DIR / report_dir.name),
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "CONTAINERS_CONF": str(CONTAINERS_CONF),
            "OCIAM_MOLECULE_REPORT_DIR": str(report_dir),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "NO_COLOR": "1",
            "PY_COLORS": "0",
            "COLUMNS": "200",
        }
    )
    return env


def ensure_images() -> None:
    """Build the base images unless they are current (a no-op when cached)."""
    result = subprocess.run(
        [str(IMAGE_BUILDER)],
        env={**os.environ, "CONTAINERS_CONF": str(CONTAINERS_CONF)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(
            f"{IMAGE_BUILDER} failed:\n{result.stdout}{result.stderr}",
            pytrace=False,
        )


def _molecule(role_dir: Path, report_dir: Path, sink: IO[str], *args: str) -> int:
    """``molecule ARGS`` in the role directory, its output to ``sink``."""
    return subprocess.run(
        [str(VENV_BIN / "molecule"), *args],
        cwd=role_dir,
        env=_environment(report_dir),
        stdout=sink,
        stderr=subprocess.STDOUT,
        timeout=SCENARIO_TIMEOUT,
        check=False,
    ).returncode


def run_scenario(
    role_dir: Path, scenario: str = "default", *, destroy: bool = True
) -> ScenarioResult:
    """Run `molecule test -s scenario` for the role in role_dir; with ``destroy=False``
    the hosts stay up for more tests (then call :func:`destroy_scenario`)."""
    _require_prerequisites()
    ensure_images()
    name = f"{role_dir.name}-{scenario}"
    report_dir = CACHE_DIR / name
    if report_dir.exists():
        shutil.rmtree(report_dir)
    report_dir.mkdir(parents=True)
    log = report_dir / "molecule.log"
    start = time.monotonic()
    # Streamed to the log file, so that a long run can be followed with tail -f.
    with log.open("w") as sink:
        try:
            extra = [] if destroy else ["--destroy", "never"]
            returncode = _molecule(role_dir, report_dir, sink, "test", "-s", scenario, *extra)
        except subprocess.TimeoutExpired:
            returncode = -1
            sink.write(f"\n[timed out after {SCENARIO_TIMEOUT} s]\n")
    seconds = time.monotonic() - start
    output = log.read_text(errors="replace")
    return ScenarioResult(role_dir.name, scenario, returncode, seconds, log, report_dir, output)


def destroy_scenario(role_dir: Path, scenario: str) -> None:
    """`molecule destroy -s scenario`: the hosts a run with ``destroy=False`` left up."""
    report_dir = CACHE_DIR / f"{role_dir.name}-{scenario}"
    report_dir.mkdir(parents=True, exist_ok=True)
    with (report_dir / "molecule-destroy.log").open("w") as sink:
        _molecule(role_dir, report_dir, sink, "destroy", "-s", scenario)


def ephemeral_directory(role_dir: Path, scenario: str) -> Path:
    """Molecule's ephemeral directory of a scenario run from here (its test PKI and
    passwords live there while the hosts are up)."""
    return EPHEMERAL_DIR / f"{role_dir.name}-{scenario}"
