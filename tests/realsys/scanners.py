"""Kubernetes misconfiguration scanners over rendered manifests: checkov and trivy.

``split_objects`` writes one file per object (``<stack>/<Kind>--<name>.yaml``, stack
names without a slash: trivy skips a top-level ``dev``), so that
every finding names the object it is about whatever the scanner reports;
``scan_checkov`` and ``scan_trivy`` run the scanner once over that tree and return its
failed checks as ``Finding``s. Both run offline: checkov with ``--skip-download`` (no
Prisma Cloud: its findings then carry no severity), trivy with its compiled-in checks
and ``--skip-check-update``. Neither is installed here: the executables come from
tests/realsys/checkov_venv.py and the Go toolchain (tests/realsys/toolchain.py).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.realsys.checkov_venv import require_checkov
from tests.realsys.rootfs import BuildError
from tests.realsys.toolchain import require_tool

SEPARATOR = "--"
UNRATED = "UNRATED"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True, order=True)
class Finding:
    """One failed check on one rendered object."""

    scanner: str
    check: str
    stack: str
    kind: str
    name: str
    severity: str
    title: str

    @property
    def object(self) -> str:
        return f"{self.kind}/{self.name}"

    def __str__(self) -> str:
        where = f"{self.stack} {self.object}"
        return f"{self.scanner} {self.check} [{self.severity}] {where}: {self.title}"


def split_objects(stacks: Mapping[str, Iterable[dict[str, Any]]], target: Path) -> Path:
    """Each stack's objects, one file each, under ``target/<stack>/``."""
    for stack, objects in stacks.items():
        directory = target / stack
        directory.mkdir(parents=True, exist_ok=True)
        for obj in objects:
            name = _UNSAFE.sub("_", obj["metadata"]["name"])
            path = directory / f"{obj['kind']}{SEPARATOR}{name}.yaml"
            if path.exists():
                raise ValueError(f"{stack}: two objects would be written to {path.name}")
            path.write_text(yaml.safe_dump(obj, sort_keys=True), encoding="utf-8")
    return target


def _locate(root: Path, file: str) -> tuple[str, str, str]:
    """(stack, kind, name) of a file ``split_objects`` wrote."""
    path = Path(file)
    relative = path.resolve().relative_to(root.resolve()) if path.is_absolute() else path
    kind, _, name = relative.stem.partition(SEPARATOR)
    return relative.parent.as_posix(), kind, name


def _run(
    command: list[str], env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
        env={**os.environ, **(env or {})},
    )


def checkov_version() -> str:
    return _run([str(require_checkov()), "--version"]).stdout.strip()


def scan_checkov(root: Path) -> list[Finding]:
    """checkov's Kubernetes framework over ``root`` (offline)."""
    command = [
        str(require_checkov()),
        "--directory",
        str(root),
        "--framework",
        "kubernetes",
        "--output",
        "json",
        "--quiet",
        "--compact",
        "--skip-download",
    ]
    # checkov writes telemetry and guideline lookups only when allowed to
    result = _run(command, {"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": ""})
    if result.returncode not in (0, 1) or not result.stdout.strip().startswith(("{", "[")):
        raise BuildError(f"checkov failed ({result.returncode}):\n{result.stderr[-4000:]}")
    reports: Any = json.loads(result.stdout)
    findings = []
    for report in reports if isinstance(reports, list) else [reports]:
        for failed in report["results"]["failed_checks"]:
            stack, kind, name = _locate(root, failed["file_abs_path"])
            findings.append(
                Finding(
                    "checkov",
                    failed["check_id"],
                    stack,
                    kind,
                    name,
                    failed.get("severity") or UNRATED,
                    failed["check_name"],
                )
            )
    return sorted(findings)


def trivy_version() -> str:
    result = _run([str(require_tool("trivy")), "version", "--format", "json"])
    data: dict[str, Any] = json.loads(result.stdout)
    return str(data.get("Version", "?"))


def scan_trivy(root: Path) -> list[Finding]:
    """trivy's misconfiguration scan over ``root``, with the checks compiled into it."""
    with tempfile.TemporaryDirectory(prefix="ociam-trivy-") as cache:
        command = [
            str(require_tool("trivy")),
            "config",
            "--format",
            "json",
            "--quiet",
            "--skip-check-update",
            "--cache-dir",
            cache,
            "--exit-code",
            "0",
            str(root),
        ]
        result = _run(command, {"TRIVY_NO_PROGRESS": "true", "TRIVY_DISABLE_TELEMETRY": "true"})
    if result.returncode != 0:
        raise BuildError(f"trivy failed ({result.returncode}):\n{result.stderr[-4000:]}")
    report: dict[str, Any] = json.loads(result.stdout)
    findings = []
    for target in report.get("Results") or []:
        for item in target.get("Misconfigurations") or []:
            if item.get("Status") != "FAIL":
                continue
            stack, kind, name = _locate(root, target["Target"])
            findings.append(
                Finding(
                    "trivy",
                    item["ID"],
                    stack,
                    kind,
                    name,
                    item.get("Severity") or UNRATED,
                    item["Title"],
                )
            )
    return sorted(findings)
