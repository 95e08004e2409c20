"""Prerequisite checks for `ociam doctor`: what is there, what is missing, how to get it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

#: the Automation API needs a CLI at least this new (pulumi>=3.200 Python SDK)
MIN_PULUMI_CLI = (3, 200, 0)


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    MISSING = "missing"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""
    needed_for: str = ""


Runner = Callable[[list[str]], tuple[int, str]]


def run_quietly(command: list[str]) -> tuple[int, str]:
    """Run with this interpreter's bin directory first on PATH (tools call siblings)."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            env={**os.environ, "PATH": path},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return 127, str(exc)
    return done.returncode, (done.stdout + done.stderr).strip()


def _version(text: str) -> tuple[int, ...] | None:
    match = re.search(r"(\d+)\.(\d+)\.(\d+)", text)
    return tuple(int(part) for part in match.groups()) if match else None


def check_pulumi(which: Callable[[str], str | None], run: Runner) -> Check:
    needed = "ociam preview/up/destroy/refresh with --engine pulumi"
    path = which("pulumi")
    if path is None:
        return Check(
            "pulumi CLI",
            Status.WARN,
            "not installed; the offline engine is used",
            "curl -fsSL https://get.pulumi.com | sh  (or the pulumi/actions step in CI)",
            needed,
        )
    code, output = run([path, "version"])
    version = _version(output)
    if code != 0 or version is None:
        return Check(
            "pulumi CLI",
            Status.MISSING,
            f"{path} does not answer `pulumi version`",
            "reinstall the Pulumi CLI",
            needed,
        )
    if version < MIN_PULUMI_CLI:
        wanted = ".".join(map(str, MIN_PULUMI_CLI))
        return Check(
            "pulumi CLI",
            Status.MISSING,
            f"{output} is older than {wanted}",
            "upgrade: pulumi self-update (or reinstall)",
            needed,
        )
    return Check("pulumi CLI", Status.OK, f"{output} at {path}", needed_for=needed)


def check_passphrase(environ: Mapping[str, str]) -> Check:
    needed = "Pulumi secrets (passphrase provider)"
    if environ.get("PULUMI_CONFIG_PASSPHRASE"):
        return Check(
            "stack passphrase", Status.OK, "PULUMI_CONFIG_PASSPHRASE is set", needed_for=needed
        )
    file = environ.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if file:
        if Path(file).is_file():
            return Check(
                "stack passphrase",
                Status.OK,
                f"PULUMI_CONFIG_PASSPHRASE_FILE={file}",
                needed_for=needed,
            )
        return Check(
            "stack passphrase",
            Status.MISSING,
            f"PULUMI_CONFIG_PASSPHRASE_FILE={file} does not exist",
            "point it at the file holding the passphrase",
            needed,
        )
    return Check(
        "stack passphrase",
        Status.WARN,
        "neither PULUMI_CONFIG_PASSPHRASE nor PULUMI_CONFIG_PASSPHRASE_FILE is set",
        "export PULUMI_CONFIG_PASSPHRASE_FILE=~/.ociam/passphrase (chmod 600)",
        needed,
    )


def check_kubeconfig(
    environ: Mapping[str, str], which: Callable[[str], str | None], run: Runner
) -> Check:
    needed = "ociam up/destroy/refresh against a cluster"
    paths = [Path(p) for p in environ.get("KUBECONFIG", "").split(os.pathsep) if p] or [
        Path(environ.get("HOME", "~")).expanduser() / ".kube" / "config"
    ]
    existing = [p for p in paths if p.is_file()]
    if not existing:
        return Check(
            "kubeconfig",
            Status.WARN,
            f"none at {', '.join(map(str, paths))}",
            "get a kubeconfig for the platform cluster (or set KUBECONFIG)",
            needed,
        )
    kubectl = which("kubectl")
    if kubectl is None:
        return Check(
            "kubeconfig",
            Status.WARN,
            f"{existing[0]} exists; reachability not checked (no kubectl)",
            "install kubectl to check the context",
            needed,
        )
    code, context = run([kubectl, "config", "current-context"])
    if code != 0:
        return Check(
            "kubeconfig",
            Status.MISSING,
            f"no current context in {existing[0]}",
            "kubectl config use-context <platform context>",
            needed,
        )
    code, _ = run([kubectl, "version", "--request-timeout=5s", "-o", "json"])
    if code != 0:
        return Check(
            "kubeconfig",
            Status.MISSING,
            f"context '{context}' is not reachable",
            "check VPN/credentials: kubectl cluster-info",
            needed,
        )
    return Check("kubeconfig", Status.OK, f"context '{context}' reachable", needed_for=needed)


def check_tool(
    name: str,
    which: Callable[[str], str | None],
    run: Runner,
    *,
    fix: str,
    needed_for: str,
    required: bool = True,
    args: tuple[str, ...] = ("--version",),
) -> Check:
    beside = Path(sys.executable).parent / name
    path = str(beside) if beside.exists() else which(name)
    if path is None:
        status = Status.MISSING if required else Status.WARN
        return Check(name, status, "not installed", fix, needed_for)
    code, output = run([path, *args])
    first_line = output.splitlines()[0] if output else ""
    if code != 0:
        return Check(name, Status.MISSING, f"{path} failed: {first_line}", fix, needed_for)
    return Check(name, Status.OK, first_line, needed_for=needed_for)


def run_checks(
    environ: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
    run: Runner = run_quietly,
) -> list[Check]:
    environ = os.environ if environ is None else environ
    python_ok = sys.version_info >= (3, 11)
    return [
        Check(
            "python",
            Status.OK if python_ok else Status.MISSING,
            sys.version.split()[0],
            "" if python_ok else "Python 3.11 or newer",
            "everything",
        ),
        check_pulumi(which, run),
        check_passphrase(environ),
        check_kubeconfig(environ, which, run),
        check_tool(
            "ansible-playbook",
            which,
            run,
            fix="pip install -e '.[test]' (or ansible)",
            needed_for="ociam playbook",
        ),
        check_tool(
            "podman",
            which,
            run,
            fix="apt-get install podman runc netavark aardvark-dns",
            needed_for="Molecule tests",
            required=False,
        ),
        check_tool(
            "runc",
            which,
            run,
            fix="apt-get install runc",
            needed_for="Molecule tests",
            required=False,
        ),
        check_tool(
            "molecule",
            which,
            run,
            fix="pip install -e '.[test]'",
            needed_for="Molecule tests",
            required=False,
        ),
    ]
