"""Prerequisite checks for `ociam doctor`: what is there, what is missing, how to get it.

What a real deploy (``--engine pulumi``) needs, checked as the engine would meet it:

* a Pulumi CLI not older than the Python ``pulumi`` SDK installed;
* every resource plugin the installed provider SDKs declare (their
  ``pulumi-plugin.json``: kubernetes, random), installed at exactly that version
  (``pulumi plugin ls --json``, which honours ``PULUMI_HOME``);
* the kubeconfig's current context answering ``/version`` (asked directly with the
  kubeconfig's certificates or token, as the Kubernetes provider asks; through
  ``kubectl get --raw`` for contexts with a credential plugin);
* every kind the environment's city stacks create served by that cluster (the
  ``apiVersion``/``kind`` of an offline render of its cities, looked up in the API's
  discovery): the CRDs the platform stack installs.

And what ``preview``/``up`` need to ask Keycloak whether a version change may roll
(``kc.sh update-compatibility``): a Java 21+ (ociam.upgrades.compat). Without one they
recreate; a warning, not a failure.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import ssl
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from ociam.catalog import CatalogError, load_environment
from ociam.engines.base import EngineError
from ociam.kube import (
    KubeClient,
    KubeconfigError,
    KubeContext,
    KubeError,
    kubeconfig_paths,
    load_kube_context,
)
from ociam.upgrades.compat import MIN_JAVA, java_runtime

#: the Automation API needs a CLI at least this new (pulumi>=3.200 Python SDK); the
#: installed SDK's own version raises the bar (see ``minimum_pulumi_cli``)
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


def minimum_pulumi_cli() -> tuple[int, ...]:
    """``MIN_PULUMI_CLI``, or the installed Python SDK's version when that is newer."""
    try:
        sdk = _version(importlib.metadata.version("pulumi"))
    except importlib.metadata.PackageNotFoundError:
        sdk = None
    return max(MIN_PULUMI_CLI, sdk or MIN_PULUMI_CLI)


def check_pulumi(
    which: Callable[[str], str | None],
    run: Runner,
    minimum: tuple[int, ...] | None = None,
) -> Check:
    needed = "ociam preview/up/destroy/refresh with --engine pulumi"
    minimum = minimum_pulumi_cli() if minimum is None else minimum
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
    if version < minimum:
        wanted = ".".join(map(str, minimum))
        return Check(
            "pulumi CLI",
            Status.MISSING,
            f"{output} is older than {wanted} (the Python pulumi SDK needs it)",
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


# ---------------------------------------------------------------- resource plugins


@dataclass(frozen=True, order=True)
class Plugin:
    """A resource plugin at one version, and the SDK that asks for it."""

    name: str
    version: str
    sdk: str = field(default="", compare=False)


def required_plugins() -> list[Plugin]:
    """What the installed provider SDKs declare in their ``pulumi-plugin.json`` (the file
    the Python language host reports the program's plugins from)."""
    found = set()
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        if "pulumi" not in name.lower():
            continue
        for file in dist.files or ():
            if file.name != "pulumi-plugin.json" or len(file.parts) != 2:
                continue
            data = json.loads(file.read_text(encoding="utf-8"))
            if data.get("resource"):
                plugin = data.get("name") or name.removeprefix("pulumi-").removeprefix("pulumi_")
                found.add(Plugin(str(plugin), str(data.get("version") or dist.version), name))
    return sorted(found)


def check_plugins(
    which: Callable[[str], str | None],
    run: Runner,
    environ: Mapping[str, str],
    required: Iterable[Plugin] | None = None,
) -> list[Check]:
    """One check per plugin: installed (``pulumi plugin ls``) at the SDK's exact version."""
    required = required_plugins() if required is None else list(required)
    needed = "ociam up/preview with --engine pulumi"
    home = environ.get("PULUMI_HOME") or "~/.pulumi"
    pulumi = which("pulumi")
    if pulumi is None:
        return [
            Check(f"plugin {p.name}", Status.WARN, "not checked: no pulumi CLI", "", needed)
            for p in required
        ]
    code, output = run([pulumi, "plugin", "ls", "--json"])
    try:
        listed = json.loads(output) if code == 0 else None
    except ValueError:
        listed = None
    if not isinstance(listed, list):
        first = output.splitlines()[0] if output else f"exit code {code}"
        return [Check("plugins", Status.MISSING, f"pulumi plugin ls failed: {first}", "", needed)]
    installed: dict[str, list[str]] = {}
    for entry in listed:
        if isinstance(entry, dict) and entry.get("kind") == "resource":
            installed.setdefault(str(entry.get("name")), []).append(str(entry.get("version")))
    checks = []
    for plugin in required:
        versions = installed.get(plugin.name, [])
        label = f"plugin {plugin.name}"
        if plugin.version in versions:
            detail = f"{plugin.version} in {home} (= {plugin.sdk})"
            checks.append(Check(label, Status.OK, detail, needed_for=needed))
            continue
        others = f"; installed: {', '.join(sorted(versions))}" if versions else ""
        checks.append(
            Check(
                label,
                Status.MISSING,
                f"{plugin.version} (what {plugin.sdk} needs) is not installed in {home}{others}",
                f"pulumi plugin install resource {plugin.name} {plugin.version}"
                " (--file BINARY where no plugin download site is reachable)",
                needed,
            )
        )
    return checks


# ---------------------------------------------------------------- the cluster


#: the API server answered with an error status (``.status``) or could not be asked
KubeRequestError = KubeError


#: GET a path of the API; the decoded JSON answer
KubeGetter = Callable[[str], Any]


def direct_getter(context: KubeContext, timeout: float = 5.0) -> KubeGetter:
    """GETs with the kubeconfig's own credentials (client certificate or token)."""
    client = KubeClient.from_context(context, timeout)
    return lambda path: client.request("GET", path)


def kubectl_getter(kubectl: str, run: Runner) -> KubeGetter:
    """GETs through ``kubectl get --raw`` (which runs credential plugins)."""

    def get(path: str) -> Any:
        code, output = run([kubectl, "get", "--raw", path, "--request-timeout=5s"])
        if code != 0:
            status = 404 if "NotFound" in output or "not found" in output else None
            raise KubeRequestError(output.splitlines()[-1] if output else f"exit {code}", status)
        return json.loads(output)

    return get


def probe_cluster(
    environ: Mapping[str, str], which: Callable[[str], str | None], run: Runner
) -> tuple[Check, KubeGetter | None]:
    """The kubeconfig check, and a way to ask the cluster when it answered."""
    needed = "ociam up/destroy/refresh against a cluster"
    paths = kubeconfig_paths(environ)
    existing = [p for p in paths if p.is_file()]
    if not existing:
        return Check(
            "kubeconfig",
            Status.WARN,
            f"none at {', '.join(map(str, paths))}",
            "get a kubeconfig for the platform cluster (or set KUBECONFIG)",
            needed,
        ), None
    try:
        context = load_kube_context(existing)
    except KubeconfigError as exc:
        return Check(
            "kubeconfig",
            Status.MISSING,
            str(exc),
            "kubectl config use-context <platform context>",
            needed,
        ), None
    kubectl = which("kubectl")
    if context.plugin and kubectl is None:
        return Check(
            "kubeconfig",
            Status.WARN,
            f"context '{context.name}' uses a credential plugin; reachability not checked"
            " (no kubectl)",
            "install kubectl to check the context",
            needed,
        ), None
    get = kubectl_getter(kubectl, run) if context.plugin and kubectl else None
    try:
        get = get or direct_getter(context)
        version = get("/version")
    except (KubeRequestError, ssl.SSLError, OSError, ValueError) as exc:
        return Check(
            "kubeconfig",
            Status.MISSING,
            f"context '{context.name}' is not reachable at {context.server}: {exc}",
            "check VPN/credentials: kubectl cluster-info",
            needed,
        ), None
    served = version.get("gitVersion", "?") if isinstance(version, dict) else "?"
    detail = f"context '{context.name}' reachable: Kubernetes {served} at {context.server}"
    return Check("kubeconfig", Status.OK, detail, needed_for=needed), get


def check_kubeconfig(
    environ: Mapping[str, str], which: Callable[[str], str | None], run: Runner
) -> Check:
    return probe_cluster(environ, which, run)[0]


def city_kinds(root: Path, env: str) -> dict[str, set[str]]:
    """apiVersion -> kinds of every object the environment's city stacks create (an
    offline render of each city). Raises CatalogError or EngineError."""
    # the Pulumi runtime is heavy: imported only when a cluster answered
    from ociam.engines.offline import OfflineEngine  # noqa: PLC0415
    from ociam.render.service import render_city  # noqa: PLC0415

    engine = OfflineEngine(root)
    kinds: dict[str, set[str]] = {}
    for city in load_environment(root, env).cities.values():
        for obj in render_city(engine, city).objects:
            kinds.setdefault(str(obj["apiVersion"]), set()).add(str(obj["kind"]))
    return kinds


def check_crds(get: KubeGetter | None, kinds: Callable[[], dict[str, set[str]]], env: str) -> Check:
    """Every kind the city stacks create is served (discovery of each apiVersion)."""
    name, needed = "CRDs", f"ociam up --env {env} (the city stacks)"
    if get is None:
        return Check(name, Status.WARN, "not checked: no reachable cluster", "", needed)
    try:
        wanted = kinds()
    except (CatalogError, EngineError) as exc:
        return Check(
            name, Status.MISSING, f"cannot render the {env} cities: {exc}", "ociam validate", needed
        )
    missing = []
    for api_version, names in sorted(wanted.items()):
        path = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        try:
            answer = get(path)
            served = {str(r.get("kind")) for r in answer.get("resources", [])}
        except KubeRequestError as exc:
            if exc.status != 404:
                return Check(name, Status.MISSING, f"cannot ask for {path}: {exc}", "", needed)
            served = set()
        missing += [f"{kind} ({api_version})" for kind in sorted(names - served)]
    groups = sorted(v for v in wanted if "." in v.split("/")[0])
    if missing:
        return Check(
            name,
            Status.MISSING,
            f"not served: {', '.join(missing)}",
            f"ociam up --platform --env {env} installs them (or install those CRDs)",
            needed,
        )
    count = sum(len(k) for k in wanted.values())
    detail = f"all {count} kinds the {env} city stacks create are served; {', '.join(groups)}"
    return Check(name, Status.OK, detail, needed_for=needed)


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


def check_java(
    environ: Mapping[str, str],
    which: Callable[[str], str | None],
    run: Runner,
    jvm_dir: Path | None = None,
) -> Check:
    """The Java ``kc.sh update-compatibility`` would run on; in an image, its version asked."""
    name, needed = "java (kc.sh)", "rolling Keycloak upgrades (update-compatibility)"
    fallback = "; preview and up roll every Keycloak version change out as a recreate (outage)"
    runtime, why_not = java_runtime(environ, which, jvm_dir)
    if runtime is None:
        return Check(name, Status.WARN, why_not + fallback, _JAVA_FIX, needed)
    if runtime.image is not None:
        podman = which("podman") or "podman"
        command = [podman, "run", "--rm", "--network=none", "--entrypoint=java", runtime.image]
        code, output = run([*command, "-version"])
        found = re.search(r'version "(\d+)', output)
        major = int(found.group(1)) if found else 0
        if code != 0 or major < MIN_JAVA:
            said = output.splitlines()[0] if output else f"exit {code}"
            detail = f"{runtime.describe()}: java -version: {said}{fallback}"
            return Check(name, Status.WARN, detail, _JAVA_FIX, needed)
        return Check(name, Status.OK, f"{runtime.describe()}: Java {major}", needed_for=needed)
    return Check(name, Status.OK, runtime.describe(), needed_for=needed)


_JAVA_FIX = (
    "OCIAM_JAVA_HOME=<a JDK 21+>, or OCIAM_JAVA_IMAGE=localhost/ociam-keycloak:<version> "
    "(the Keycloak test image .ci/bootstrap builds, Debian trixie's OpenJDK 21)"
)


def run_checks(
    environ: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
    run: Runner = run_quietly,
    root: Path | None = None,
    env: str = "dev",
) -> list[Check]:
    """Every check; the CRD check (an offline render of ``env``'s cities) needs ``root``."""
    environ = os.environ if environ is None else environ
    python_ok = sys.version_info >= (3, 11)
    cluster, get = probe_cluster(environ, which, run)
    crds = [] if root is None else [check_crds(get, lambda: city_kinds(root, env), env)]
    return [
        Check(
            "python",
            Status.OK if python_ok else Status.MISSING,
            sys.version.split()[0],
            "" if python_ok else "Python 3.11 or newer",
            "everything",
        ),
        check_pulumi(which, run),
        *check_plugins(which, run, environ),
        check_passphrase(environ),
        cluster,
        *crds,
        check_java(environ, which, run),
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
