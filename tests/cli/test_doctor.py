"""``ociam doctor`` reports real tools and says how to fix what is missing."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ociam.doctor import (
    KubeRequestError,
    Plugin,
    Status,
    check_crds,
    check_java,
    check_kubeconfig,
    check_passphrase,
    check_plugins,
    check_pulumi,
    load_kube_context,
    minimum_pulumi_cli,
    required_plugins,
    run_quietly,
)


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


def _fake_jdk(jvm: Path, name: str, major: int) -> Path:
    home = jvm / name
    (home / "bin").mkdir(parents=True)
    (home / "bin" / "java").write_text("#!/bin/sh\nexit 1\n")
    (home / "release").write_text(f'JAVA_VERSION="{major}.0.9"\n')
    return home


def _refuse(command: list[str]) -> tuple[int, str]:
    raise AssertionError(f"ran {command}")


def test_no_java_21_is_a_warning_naming_the_recreate(tmp_path: Path) -> None:
    """Debian 12's apt has only OpenJDK 17: kc.sh cannot run, every Keycloak change recreates."""
    jdk17 = _fake_jdk(tmp_path, "java-17-openjdk-amd64", 17)
    check = check_java({"JAVA_HOME": str(jdk17)}, lambda name: None, _refuse, tmp_path)
    assert check.status is Status.WARN
    assert check.detail.startswith("no Java 21 or newer")
    assert f"JAVA_HOME={jdk17}: Java 17" in check.detail
    assert f"{tmp_path} has java-17-openjdk-amd64 (Java 17)" in check.detail
    assert "roll every Keycloak version change out as a recreate (outage)" in check.detail
    assert "OCIAM_JAVA_IMAGE=localhost/ociam-keycloak:" in check.fix
    jdk21 = _fake_jdk(tmp_path, "java-21-openjdk-amd64", 21)
    found = check_java({}, lambda name: None, _refuse, tmp_path)
    assert (found.status, found.detail) == (Status.OK, f"{jdk21} (Java 21)")


def test_a_java_image_is_asked_its_java_version(tmp_path: Path) -> None:
    podman = tmp_path / "podman"  # answers `podman image exists`
    podman.write_text('#!/bin/sh\n[ "$1 $2" = "image exists" ] && [ "$3" = img:1 ]\n')
    podman.chmod(0o755)
    asked: list[list[str]] = []

    def java(version: str) -> Any:
        def run(command: list[str]) -> tuple[int, str]:
            asked.append(command)
            return 0, f'openjdk version "{version}" 2026-10-20\nOpenJDK Runtime Environment'

        return run

    env, which = {"OCIAM_JAVA_IMAGE": "img:1"}, {"podman": str(podman)}.get
    ok = check_java(env, which, java("21.0.13"), tmp_path)
    assert (ok.status, ok.detail) == (Status.OK, "image img:1 (podman): Java 21")
    assert asked[0] == [str(podman), "run", "--rm", "--network=none", "--entrypoint=java",
                        "img:1", "-version"]  # fmt: skip
    old = check_java(env, which, java("17.0.2"), tmp_path)
    assert old.status is Status.WARN and 'openjdk version "17.0.2"' in old.detail
    gone = check_java({"OCIAM_JAVA_IMAGE": "other:2"}, which, _refuse, tmp_path)
    assert gone.status is Status.WARN
    assert "OCIAM_JAVA_IMAGE=other:2: no such image in podman's store" in gone.detail


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _kubeconfig(
    path: Path, server: str, user: dict[str, Any], context: str = "platform-prod"
) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": context, "context": {"cluster": "c", "user": "u"}}],
        "current-context": context,
    }
    path.write_text(yaml.safe_dump(config))
    return path


def test_kubeconfig_context_unreachable(tmp_path: Path) -> None:
    server = f"https://127.0.0.1:{_unused_port()}"
    config = _kubeconfig(tmp_path / "config", server, {"token": "t0ken-value"})
    check = check_kubeconfig({"KUBECONFIG": str(config)}, lambda name: None, run_quietly)
    assert check.status is Status.MISSING
    assert f"'platform-prod' is not reachable at {server}" in check.detail
    assert "t0ken-value" not in check.detail + check.fix


def test_kubeconfig_without_a_context_is_missing(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("apiVersion: v1\nkind: Config\n")
    check = check_kubeconfig({"KUBECONFIG": str(config)}, lambda name: None, run_quietly)
    assert check.status is Status.MISSING
    assert check.detail == f"no current context in {config}"


def test_credential_plugin_context_is_asked_through_kubectl(tmp_path: Path) -> None:
    exec_user = {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": "login"}}
    config = _kubeconfig(tmp_path / "config", "https://k8s.example.org", exec_user)
    asked: list[list[str]] = []

    def run(command: list[str]) -> tuple[int, str]:
        asked.append(command)
        return 1, "error: connection refused"

    env = {"KUBECONFIG": str(config)}
    check = check_kubeconfig(env, lambda name: "/usr/bin/kubectl", run)
    assert check.status is Status.MISSING
    assert "'platform-prod' is not reachable" in check.detail
    assert asked == [["/usr/bin/kubectl", "get", "--raw", "/version", "--request-timeout=5s"]]
    without_kubectl = check_kubeconfig(env, lambda name: None, run)
    assert without_kubectl.status is Status.WARN
    assert "credential plugin" in without_kubectl.detail


def test_kubeconfig_merge_and_relative_files(tmp_path: Path) -> None:
    (tmp_path / "ca.pem").write_bytes(b"CA")
    (tmp_path / "token").write_text("from-file\n")
    first = tmp_path / "first"
    first.write_text(
        yaml.safe_dump(
            {
                "current-context": "b",
                "users": [{"name": "u", "user": {"tokenFile": "token"}}],
            }
        )
    )
    second = _kubeconfig(
        tmp_path / "second", "https://b.example.org:6443", {"token": "ignored"}, "b"
    )
    text = yaml.safe_load(second.read_text())
    text["clusters"][0]["cluster"]["certificate-authority"] = "ca.pem"
    second.write_text(yaml.safe_dump(text))
    context = load_kube_context([first, second])
    assert (context.name, context.server) == ("b", "https://b.example.org:6443")
    assert context.token == "from-file"  # the first file's user of that name wins
    assert context.ca_pem == b"CA"
    assert not context.plugin


def test_pulumi_older_than_the_sdk_is_missing(tmp_path: Path) -> None:
    fake = _fake_pulumi(tmp_path, "3.271.9")
    check = check_pulumi(lambda name: str(fake), run_quietly, minimum=(3, 272, 0))
    assert check.status is Status.MISSING
    assert "older than 3.272.0 (the Python pulumi SDK needs it)" in check.detail
    sdk = tuple(int(p) for p in importlib.metadata.version("pulumi").split(".")[:3])
    assert minimum_pulumi_cli() >= sdk


def test_required_plugins_are_what_the_sdks_declare() -> None:
    declared = {
        (data["name"], data["version"])
        for data in (
            json.loads((importlib.resources.files(sdk) / "pulumi-plugin.json").read_text())
            for sdk in ("pulumi_kubernetes", "pulumi_random")
        )
    }
    assert declared <= {(p.name, p.version) for p in required_plugins()}


def test_plugins_must_be_installed_at_the_exact_version() -> None:
    required = [Plugin("kubernetes", "4.25.0", "pulumi_kubernetes"), Plugin("random", "4.21.4")]
    listed = [
        {"name": "kubernetes", "kind": "resource", "version": "4.25.0"},
        {"name": "random", "kind": "resource", "version": "4.21.3"},
        {"name": "python", "kind": "language", "version": "4.21.4"},
    ]

    def run(command: list[str]) -> tuple[int, str]:
        assert command == ["/bin/pulumi", "plugin", "ls", "--json"]
        return 0, json.dumps(listed)

    env = {"PULUMI_HOME": "/srv/pulumi"}
    kubernetes, random = check_plugins(lambda name: "/bin/pulumi", run, env, required)
    assert kubernetes.status is Status.OK
    assert "4.25.0 in /srv/pulumi" in kubernetes.detail
    assert random.status is Status.MISSING
    assert random.detail.endswith("is not installed in /srv/pulumi; installed: 4.21.3")
    assert random.fix.startswith("pulumi plugin install resource random 4.21.4")
    no_cli = check_plugins(lambda name: None, run, env, required)
    assert [c.status for c in no_cli] == [Status.WARN, Status.WARN]
    failing = check_plugins(lambda name: "/bin/pulumi", lambda c: (1, "boom"), env, required)
    assert [(c.name, c.status) for c in failing] == [("plugins", Status.MISSING)]


def test_crds_missing_are_named() -> None:
    discovery = {
        "/api/v1": {"resources": [{"kind": "Service"}, {"kind": "ConfigMap"}]},
        "/apis/postgresql.cnpg.io/v1": {"resources": [{"kind": "Cluster"}]},
    }

    def get(path: str) -> Any:
        if path not in discovery:
            raise KubeRequestError(f"404 Not Found for {path}", 404)
        return discovery[path]

    def kinds() -> dict[str, set[str]]:
        return {"v1": {"Service"}, "postgresql.cnpg.io/v1": {"Cluster", "ScheduledBackup"}}

    check = check_crds(get, kinds, "dev")
    assert check.status is Status.MISSING
    assert check.detail == "not served: ScheduledBackup (postgresql.cnpg.io/v1)"
    assert "ociam up --platform --env dev" in check.fix
    discovery["/apis/postgresql.cnpg.io/v1"]["resources"].append({"kind": "ScheduledBackup"})
    assert check_crds(get, kinds, "dev").status is Status.OK
    gone = check_crds(lambda path: get("/apis/none/v1"), kinds, "dev")
    assert gone.detail == (
        "not served: Cluster (postgresql.cnpg.io/v1), ScheduledBackup (postgresql.cnpg.io/v1),"
        " Service (v1)"
    )
    assert check_crds(None, kinds, "dev").status is Status.WARN


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
