"""``ociam doctor`` against the real control plane, the real Pulumi CLI and its plugins.

The plugins are installed into a test-private PULUMI_HOME from the toolchain's binaries
(``pulumi plugin install resource NAME VERSION --file BINARY``) at the versions the
Python SDKs declare, read here from their ``pulumi-plugin.json``.
"""

from __future__ import annotations

import importlib.resources
import json
import subprocess
import sys
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from tests.realsys.control_plane import (
    ControlPlane,
    crd_documents,
    default_crd_dir,
    established,
    gone,
    wait_for,
)

pytestmark = pytest.mark.cluster

PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: what a real deploy needs: every one of these must be ok
DEPLOY_CHECKS = ("pulumi CLI", "plugin kubernetes", "plugin random", "kubeconfig", "CRDs")
#: a CRD every dev city uses (each city backs its database up through an ObjectStore)
REMOVED_CRD = "objectstores.barmancloud.cnpg.io"
WAIT = 120.0


def sdk_plugin(package: str) -> tuple[str, str]:
    data = json.loads((importlib.resources.files(package) / "pulumi-plugin.json").read_text())
    return str(data["name"]), str(data["version"])


def pulumi_env(control_plane: ControlPlane, home: Path) -> dict[str, str]:
    return control_plane.env() | {
        "PULUMI_HOME": str(home),
        "PULUMI_SKIP_UPDATE_CHECK": "true",
        "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
        "PULUMI_CONFIG_PASSPHRASE": "doctor-test-passphrase",
    }


def install_plugin(control_plane: ControlPlane, home: Path, name: str, version: str) -> None:
    binary = control_plane.bin_dir / f"pulumi-resource-{name}"
    command = ["pulumi", "plugin", "install", "resource", name, version, "--file", str(binary)]
    done = subprocess.run(
        command, env=pulumi_env(control_plane, home), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def pulumi_home(control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("pulumi-home")
    for package in ("pulumi_kubernetes", "pulumi_random"):
        install_plugin(control_plane, home, *sdk_plugin(package))
    return home


def doctor(control_plane: ControlPlane, home: Path) -> tuple[int, dict[str, dict[str, Any]]]:
    """Exit code and checks by name of ``ociam doctor --env dev --output json``."""
    done = subprocess.run(
        [sys.executable, "-m", "ociam", "doctor", "--env", "dev", "--output", "json"],
        cwd=PROJECT_ROOT,
        env=pulumi_env(control_plane, home),
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert "doctor-test-passphrase" not in done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["ok"] is (done.returncode == 0), done.stderr
    return done.returncode, {c["name"]: c for c in report["checks"]}


def test_doctor_finds_everything_a_real_deploy_needs(
    control_plane: ControlPlane, pulumi_home: Path
) -> None:
    code, checks = doctor(control_plane, pulumi_home)
    assert {name: checks[name]["status"] for name in DEPLOY_CHECKS} == dict.fromkeys(
        DEPLOY_CHECKS, "ok"
    ), checks
    assert code == 0, checks
    assert f"at {control_plane.server}" in checks["kubeconfig"]["detail"]
    assert "Kubernetes v1.35" in checks["kubeconfig"]["detail"]
    assert "postgresql.cnpg.io/v1" in checks["CRDs"]["detail"]
    name, version = sdk_plugin("pulumi_kubernetes")
    assert checks[f"plugin {name}"]["detail"].startswith(f"{version} in {pulumi_home}")


def test_doctor_names_a_missing_or_mismatched_plugin(
    control_plane: ControlPlane, tmp_path: Path
) -> None:
    name, version = sdk_plugin("pulumi_random")
    install_plugin(control_plane, tmp_path, name, "4.0.0")  # another version only
    code, checks = doctor(control_plane, tmp_path)
    assert code == 1
    kubernetes, random = checks["plugin kubernetes"], checks["plugin random"]
    assert kubernetes["status"] == "missing"
    k8s_version = sdk_plugin("pulumi_kubernetes")[1]
    assert kubernetes["fix"].startswith(f"pulumi plugin install resource kubernetes {k8s_version}")
    assert random["status"] == "missing"
    assert random["detail"] == (
        f"{version} (what pulumi_random needs) is not installed in {tmp_path}; installed: 4.0.0"
    )
    assert checks["kubeconfig"]["status"] == "ok"


@pytest.fixture
def without_objectstore_crd(control_plane: ControlPlane) -> Iterator[None]:
    """The ObjectStore CRD deleted for the test, put back (Established) after it."""
    client = control_plane.client
    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    [document] = [
        d for d in crd_documents(default_crd_dir()) if d["metadata"]["name"] == REMOVED_CRD
    ]
    deleted = partial(
        gone, client, "apiextensions.k8s.io/v1", "CustomResourceDefinition", REMOVED_CRD
    )
    client.request("DELETE", f"{path}/{REMOVED_CRD}")
    try:
        wait_for(f"CRD {REMOVED_CRD} deleted", deleted, WAIT)
        yield
    finally:
        wait_for(f"CRD {REMOVED_CRD} deleted", deleted, WAIT)
        client.request("POST", path, body=document)
        wait_for(f"CRD {REMOVED_CRD} back", partial(established, client, {REMOVED_CRD}), WAIT)


@pytest.mark.usefixtures("without_objectstore_crd")
def test_doctor_names_a_kind_the_cluster_does_not_serve(
    control_plane: ControlPlane, pulumi_home: Path
) -> None:
    code, checks = doctor(control_plane, pulumi_home)
    assert code == 1
    crds = checks["CRDs"]
    assert crds["status"] == "missing"
    assert crds["detail"] == "not served: ObjectStore (barmancloud.cnpg.io/v1)"
    assert crds["fix"].startswith("ociam up --platform --env dev installs them")
    assert checks["kubeconfig"]["status"] == "ok"
