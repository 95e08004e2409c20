"""Kubernetes misconfiguration scanners over rendered manifests: checkov and trivy.

``split_objects`` writes one file per object (``<stack>/<Kind>--<name>.yaml``, stack
names without a slash: trivy skips a top-level ``dev``), so that
every finding names the object it is about whatever the scanner reports;
``scan_checkov`` and ``scan_trivy`` run the scanner once over that tree and return a
``Scan``: its failed checks as ``Finding``s and the objects it evaluated at least one
check on (a scanner that parses nothing, or has no check for a kind, leaves them
out). Both run offline: checkov with ``--skip-download`` (no Prisma Cloud: its
findings then carry no severity), trivy with its compiled-in checks and
``--skip-check-update``. Neither is installed here: the executables come from
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


@dataclass(frozen=True)
class Scan:
    """One scanner's run over a tree: what failed and what it evaluated at all."""

    findings: list[Finding]
    #: (stack, Kind/name) of every object the scanner ran at least one check on
    evaluated: frozenset[tuple[str, str]]

    def evaluated_in(self, stack: str) -> set[str]:
        return {obj for where, obj in self.evaluated if where == stack}


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


def scan_checkov(root: Path) -> Scan:
    """checkov's Kubernetes framework over ``root`` (offline; passed checks reported
    too, so that what it evaluated is known)."""
    command = [
        str(require_checkov()),
        "--directory",
        str(root),
        "--framework",
        "kubernetes",
        "--output",
        "json",
        "--compact",
        "--skip-download",
    ]
    # checkov writes telemetry and guideline lookups only when allowed to
    result = _run(command, {"BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": ""})
    if result.returncode not in (0, 1) or not result.stdout.strip().startswith(("{", "[")):
        raise BuildError(f"checkov failed ({result.returncode}):\n{result.stderr[-4000:]}")
    reports: Any = json.loads(result.stdout)
    findings = []
    evaluated = set()
    for report in reports if isinstance(reports, list) else [reports]:
        results = report.get("results") or {}
        for checked in results.get("passed_checks", []) + results.get("failed_checks", []):
            stack, kind, name = _locate(root, checked["file_abs_path"])
            evaluated.add((stack, f"{kind}/{name}"))
        for failed in results.get("failed_checks", []):
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
    return Scan(sorted(findings), frozenset(evaluated))


def trivy_version() -> str:
    result = _run([str(require_tool("trivy")), "version", "--format", "json"])
    data: dict[str, Any] = json.loads(result.stdout)
    return str(data.get("Version", "?"))


def scan_trivy(root: Path) -> Scan:
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
    evaluated = set()
    for target in report.get("Results") or []:
        stack, kind, name = _locate(root, target["Target"])
        summary = target.get("MisconfSummary") or {}
        if summary.get("Successes", 0) + summary.get("Failures", 0) > 0:
            evaluated.add((stack, f"{kind}/{name}"))
        for item in target.get("Misconfigurations") or []:
            if item.get("Status") != "FAIL":
                continue
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
    return Scan(sorted(findings), frozenset(evaluated))
