"""``ociam doctor`` reports real tools and says how to fix what is missing."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from ociam.doctor import Status, check_kubeconfig, check_passphrase, check_pulumi, run_quietly


def _fake_pulumi(directory: Path, version: str) -> Path:
    script = directory / "pulumi"
    script.write_text(f'#!/bin/sh\n[ "$1" = version ] && echo v{version} && exit 0\nexit 1\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


@pytest.mark.parametrize(
    ("version", "status"), [("3.272.0", Status.OK), ("3.150.0", Status.MISSING)]
)
def test_pulumi_version_is_checked(tmp_path: Path, version: str, status: Status) -> None:
    fake = _fake_pulumi(tmp_path, version)
    check = check_pulumi(lambda name: str(fake) if name == "pulumi" else None, run_quietly)
    assert check.status is status
    assert version in check.detail


def test_missing_pulumi_is_a_warning_with_the_install_step() -> None:
    check = check_pulumi(lambda name: None, run_quietly)
    assert check.status is Status.WARN
    assert "offline engine" in check.detail
    assert "get.pulumi.com" in check.fix


def test_passphrase_never_echoed(tmp_path: Path) -> None:
    check = check_passphrase({"PULUMI_CONFIG_PASSPHRASE": "correct horse"})
    assert check.status is Status.OK
    assert "correct horse" not in check.detail + check.fix
    missing_file = check_passphrase({"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "nope")})
    assert missing_file.status is Status.MISSING


def test_kubeconfig_context_unreachable(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("apiVersion: v1\nkind: Config\n")
    answers = {"current-context": (0, "platform-prod"), "version": (1, "connection refused")}

    def run(command: list[str]) -> tuple[int, str]:
        return answers["current-context" if "current-context" in command else "version"]

    check = check_kubeconfig({"KUBECONFIG": str(config)}, lambda name: "/usr/bin/kubectl", run)
    assert check.status is Status.MISSING
    assert "'platform-prod' is not reachable" in check.detail


def test_doctor_command_json_and_exit_code(tmp_path: Path) -> None:
    _fake_pulumi(tmp_path, "3.272.0")
    env = {
        **os.environ,
        "PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}",
        "PULUMI_CONFIG_PASSPHRASE": "s3cret-passphrase",
        "KUBECONFIG": str(tmp_path / "none"),
    }
    result = subprocess.run(
        [sys.executable, "-m", "ociam", "doctor", "--output", "json"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    report = json.loads(result.stdout)
    statuses = {c["name"]: c["status"] for c in report["checks"]}
    assert statuses["pulumi CLI"] == "ok"
    assert statuses["stack passphrase"] == "ok"
    assert statuses["kubeconfig"] == "warn"
    assert result.returncode == (0 if report["ok"] else 1)
    assert "s3cret-passphrase" not in result.stdout + result.stderr
