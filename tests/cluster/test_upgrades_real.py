"""Safe upgrades for real: the real Pulumi engine through ``ociam`` against the real
control plane, three dev cities (Pori, Porvoo, Kajaani) deployed at Keycloak 26.7.3 and
upgraded to the catalog's 26.7.4.

In order, on one deployment (a module fixture): a staged rollout whose canary passes
its health gate lets the rest proceed (the first deployment); the version change is in
``preview --summary-md``; a three-city staged rollout whose canary is recreated (no
distribution to ask Keycloak) and whose new pod an admission policy refuses fails its
health gate and stops before the next wave, whose two cities keep their version and
spec, and the summary says the canary runs no Keycloak; the backup gate refuses the
upgrade while the city has no completed Backup and while its last one is too old,
``ociam backup`` creates one and waits, and the gate then lets the upgrade through
(rolling: Keycloak said a patch bump may roll, ``kc.sh`` run in the Keycloak test
image); the same recreate without the policy: OnDelete, the old pod deleted by ociam,
the new one healthy; the restore drill creates its scratch namespace and removes it;
a PostgreSQL upgrade without a Backup is refused, then applied with
``--skip-backup-gate``, loudly; the same upgrade for the other two cities as a staged
rollout whose canary passes, then the rest.

What the control plane cannot do, and what stands in: no CloudNativePG operator runs,
so the tests write the status of Backup and Cluster objects themselves (``phase:
completed`` with ``stoppedAt``; ``Cluster in healthy state``). The shared CRDs
(../shared/crds) hold no ``Backup`` CRD: this module installs upstream's, unmodified,
of the pinned operator release (tests/cluster/crds/README.md), so ``ociam backup``'s
Backup and the tests' status are validated by its schema. kwok marks pods Ready and
Job pods Succeeded without running them: the health gate sees the controllers' state
and the EndpointSlices, not a Keycloak login.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.keycloak_dists import java_environ
from tests.cluster.real_deploy import COMMAND_TIMEOUT_SECONDS, RealDeploy
from tests.realsys.control_plane import ControlPlane, wait_for
from tests.realsys.pulumi_env import OCIAM, git

CITIES = ("pori", "porvoo", "kajaani")
ALL_YML = "inventories/dev/group_vars/all.yml"
PLATFORM_YML = "stacks/platform/platform.yml"
OLD, NEW = "26.7.3", "26.7.4"
#: upstream's Backup CRD at the pinned operator release, unmodified (tests/cluster/crds/README.md)
BACKUP_CRD_FILE = Path(__file__).parent / "crds" / "postgresql.cnpg.io_backups.yaml"
BACKUP_CRD_SHA256 = "694bafce2eda4603629657c2141a89189c15250c74215002a6987538d3d78ff5"
BACKUP_CRD_VERSION = "v1.30.0"
DENY_PODS = "ociam-test-deny-pods"


def _version(deploy: RealDeploy, city: str) -> str:
    sts = deploy.plane.client.get("apps/v1", "StatefulSet", "keycloak", f"iam-{city}")
    assert sts is not None, city
    return str(sts["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/version"])


def _set_status(deploy: RealDeploy, api_version: str, kind: str, name: str, ns: str,
                status: dict[str, Any]) -> None:  # fmt: skip
    path = deploy.plane.client.path(api_version, kind, ns, name) + "/status"
    deploy.plane.client.request(
        "PATCH", path, body={"status": status}, content_type="application/merge-patch+json"
    )


def _completed_backup(deploy: RealDeploy, city: str, name: str, hours_ago: float) -> None:
    ns = f"iam-{city}"
    deploy.plane.client.create({
        "apiVersion": "postgresql.cnpg.io/v1", "kind": "Backup",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"cluster": {"name": "keycloak-db"}, "method": "plugin",
                 "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"}},
    })  # fmt: skip
    stopped = datetime.now(UTC) - timedelta(hours=hours_ago)
    _set_status(deploy, "postgresql.cnpg.io/v1", "Backup", name, ns, {
        "phase": "completed",
        "startedAt": (stopped - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "stoppedAt": stopped.strftime("%Y-%m-%dT%H:%M:%SZ"),
    })  # fmt: skip


@pytest.fixture(scope="module")
def deploy(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealDeploy]:
    client = control_plane.client
    client.request(
        "POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", body=_backup_crd()
    )
    wait_for(
        "Backup CRD served",
        lambda: True if _served(control_plane) else None,
        60,
    )
    deploy = RealDeploy.create(control_plane, tmp_path_factory.mktemp("upgrades"))
    deploy.edit(ALL_YML, f'tag: "{NEW}"', f'tag: "{OLD}"')
    deploy.commit(f"dev: Keycloak {OLD}")
    for city in CITIES:
        deploy.set_city_secrets("dev", city)
        git(deploy.checkout, "add", f"stacks/city/Pulumi.dev-{city}.yaml")
    deploy.commit("stack config")
    try:
        yield deploy
    finally:  # leave the shared control plane as it was found
        _remove_deny_policy(deploy)
        for city in CITIES:  # a city's only cluster-scoped object is its namespace; the
            client.delete("v1", "Namespace", f"iam-{city}")  # state goes with tmp_path
        client.delete("v1", "Namespace", "iam-pori-drill")
        for namespace in (*(f"iam-{c}" for c in CITIES), "iam-pori-drill"):
            deploy.wait_until_gone(namespace)
        client.delete("apiextensions.k8s.io/v1", "CustomResourceDefinition",
                      "backups.postgresql.cnpg.io")  # fmt: skip


def _backup_crd() -> dict[str, Any]:
    """Upstream's, checked: unmodified, and of the operator release the platform pins."""
    data = BACKUP_CRD_FILE.read_bytes()
    assert hashlib.sha256(data).hexdigest() == BACKUP_CRD_SHA256, f"{BACKUP_CRD_FILE} changed"
    platform = yaml.safe_load((Path(__file__).parents[2] / PLATFORM_YML).read_text("utf-8"))
    pinned = platform["charts"]["cloudnative_pg"]["crds_version"]
    assert pinned == BACKUP_CRD_VERSION, (
        f"{PLATFORM_YML}: charts.cloudnative_pg.crds_version is {pinned}, {BACKUP_CRD_FILE.name} "
        f"is {BACKUP_CRD_VERSION}'s: replace it (tests/cluster/crds/README.md)"
    )
    crd: dict[str, Any] = yaml.safe_load(data)
    return crd


def _served(plane: ControlPlane) -> bool:
    try:
        plane.client.list("postgresql.cnpg.io/v1", "Backup", "default")
    except Exception:  # discovery not updated yet
        return False
    return True


def _remove_deny_policy(deploy: RealDeploy) -> None:
    client = deploy.plane.client
    for kind in ("ValidatingAdmissionPolicyBinding", "ValidatingAdmissionPolicy"):
        client.delete("admissionregistration.k8s.io/v1", kind, DENY_PODS)


def _kc_java() -> dict[str, str]:
    """kc.sh update-compatibility runs in the Keycloak test image (its OpenJDK 21), not
    on whatever JDK this machine has."""
    return java_environ()


def _lines(text: str, prefix: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(prefix)]


def _up_canary_pori_first(deploy: RealDeploy, summary: Path) -> subprocess.CompletedProcess[str]:
    """``up --waves canary=pori,rest=porvoo+kajaani`` succeeds, Pori's result line first."""
    result = deploy.ociam("up", "--engine", "pulumi", "--env", "dev", "--jobs", "2",
                          "--waves", "canary=pori,rest=porvoo+kajaani", "--health-timeout", "180",
                          "--summary-md", str(summary))  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    lines = result.stdout.splitlines()
    first = {c: next(i for i, x in enumerate(lines) if x.startswith(f"ok       dev-{c}"))
             for c in CITIES}  # fmt: skip
    assert first["pori"] < first["porvoo"] and first["pori"] < first["kajaani"], output
    return result


def test_a_passing_canary_lets_the_rest_proceed(deploy: RealDeploy, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    result = _up_canary_pori_first(deploy, summary)
    output = result.stdout + result.stderr
    assert "wave canary: dev-pori" in result.stderr
    assert "wave rest: dev-porvoo, dev-kajaani" in result.stderr
    assert result.stdout.count(f"health gate: healthy (Keycloak {OLD})") == 3, output
    for city in CITIES:
        assert _version(deploy, city) == OLD
    text = summary.read_text(encoding="utf-8")
    assert f"canary     dev-pori                 ok       Keycloak {OLD}" in text, text
    assert f"rest       dev-kajaani              ok       Keycloak {OLD}" in text, text


def test_the_version_change_is_in_the_summary(deploy: RealDeploy, tmp_path: Path) -> None:
    deploy.edit(ALL_YML, f'tag: "{OLD}"', f'tag: "{NEW}"')
    deploy.commit(f"dev: Keycloak {NEW}")
    summary = tmp_path / "summary.md"
    result = deploy.ociam("preview", "--engine", "pulumi", "--env", "dev", "--city", "pori",
                          "--summary-md", str(summary), **_kc_java())  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"    version: Keycloak {OLD} -> {NEW}" in result.stdout
    text = summary.read_text(encoding="utf-8")
    assert f"| `dev-pori` | version: Keycloak {OLD} -> {NEW} |" in text, text
    # Keycloak said a patch bump may roll (tests/cluster/test_update_compatibility.py)
    assert f"kc.sh update-compatibility {OLD} -> {NEW}: exit 0" in text, text
    assert "rollout: rolling update" in text
    # the engine sees the change as an update of the StatefulSet
    assert "~  update  kubernetes:apps/v1:StatefulSet  keycloak-statefulset" in result.stdout


def _no_distributions(tmp_path: Path) -> dict[str, str]:
    """An ``ociam`` environment without Keycloak distributions: it cannot ask Keycloak
    whether the version change may roll, so it recreates (the safe choice)."""
    nothing = tmp_path / "no-distributions"
    nothing.mkdir(exist_ok=True)
    return {"OCIAM_CACHE_DIR": str(nothing), "OCIAM_KEYCLOAK_DIST_DIR": str(nothing)}


def test_a_failing_canary_stops_the_rollout(deploy: RealDeploy, tmp_path: Path) -> None:
    for city in ("porvoo", "kajaani"):
        _completed_backup(deploy, city, "keycloak-db-fresh", hours_ago=1)
    before = {c: deploy.plane.client.get("apps/v1", "StatefulSet", "keycloak", f"iam-{c}")
              for c in ("porvoo", "pori")}  # fmt: skip
    assert all(before.values())
    # Kajaani is recreated (no distribution to ask Keycloak): Pulumi's update succeeds
    # (OnDelete, the old pod stays Ready), ociam deletes the old pod, and the API server
    # refuses the new one: the health gate sees what Pulumi's await did not
    client = deploy.plane.client
    client.create({
        "apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": DENY_PODS},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [{
                "apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                "resources": ["pods"]}]},
            "validations": [{"expression": "false", "message": "test: no new pods in Kajaani"}],
        },
    })  # fmt: skip
    client.create({
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": DENY_PODS},
        "spec": {
            "policyName": DENY_PODS, "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": "iam-kajaani"}}},
        },
    })  # fmt: skip
    time.sleep(2)  # the policy reaches the admission plugin
    summary = tmp_path / "summary.md"
    try:
        result = deploy.ociam("up", "--engine", "pulumi", "--env", "dev", "--waves",
                              "canary=kajaani,rest=porvoo+pori", "--health-timeout", "25",
                              "--summary-md", str(summary),
                              **_no_distributions(tmp_path))  # fmt: skip
    finally:
        _remove_deny_policy(deploy)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    (failed,) = _lines(result.stdout, "FAILED   dev-kajaani")
    assert "health gate: not healthy after 25 s" in failed, failed
    assert "StatefulSet keycloak: 0 of 1 pod(s) Ready" in failed, failed
    for city in ("porvoo", "pori"):
        (skipped,) = _lines(result.stdout, f"SKIPPED  dev-{city}")
        assert "wave rest not started: an earlier wave failed (dev-kajaani)" in skipped
    assert "wave rest:" not in result.stderr
    assert _keycloak_pods(deploy, "kajaani") == []  # the old pod is gone, no new one
    # Porvoo and Pori untouched: same version, same spec generation as before the rollout
    for city, sts_before in before.items():
        sts = client.get("apps/v1", "StatefulSet", "keycloak", f"iam-{city}") or {}
        assert sts["metadata"]["generation"] == (sts_before or {})["metadata"]["generation"]
        assert _version(deploy, city) == OLD
    text = summary.read_text(encoding="utf-8")
    # the version each city runs (its Ready pods), not the template's desired one
    assert (
        f"canary     dev-kajaani              failed   Keycloak none running (desired {NEW})"
        in text
    ), text
    assert f"rest       dev-porvoo               skipped  Keycloak {OLD}" in text, text
    assert f"rest       dev-pori                 skipped  Keycloak {OLD}" in text, text
    # the failed city keeps the version change it was applying
    assert f"| `dev-kajaani` | version: Keycloak {OLD} -> {NEW} |" in text, text


def test_the_backup_gate_refuses_then_allows(deploy: RealDeploy) -> None:
    up = ("up", "--engine", "pulumi", "--env", "dev", "--city", "pori")
    result = deploy.ociam(*up, **_kc_java())
    assert result.returncode == 1, result.stdout + result.stderr
    (line,) = _lines(result.stdout, "REFUSED  dev-pori")
    assert f"this change upgrades Keycloak {OLD} -> {NEW}" in line
    assert "no completed backup of keycloak-db in iam-pori" in line
    assert "limit 24 h 0 min" in line and "ociam backup --env dev --city pori" in line
    assert _version(deploy, "pori") == OLD  # nothing applied

    _completed_backup(deploy, "pori", "keycloak-db-old", hours_ago=30)
    result = deploy.ociam(*up, **_kc_java())
    assert result.returncode == 1
    (line,) = _lines(result.stdout, "REFUSED  dev-pori")
    assert "last completed backup keycloak-db-old finished 30 h 0 min ago" in line, line
    assert _version(deploy, "pori") == OLD

    # ociam backup creates an on-demand Backup and waits; the test plays the operator
    process = subprocess.Popen(
        [OCIAM, "backup", "--env", "dev", "--city", "pori", "--timeout", "120"],
        cwd=deploy.checkout, env=deploy.engine.env(deploy.plane.kubeconfig),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    ondemand = wait_for(
        "the on-demand Backup",
        lambda: next(
            (b for b in deploy.plane.client.list("postgresql.cnpg.io/v1", "Backup", "iam-pori")
             if "ondemand" in b["metadata"]["name"]), None),
        60,
    )  # fmt: skip
    assert ondemand["spec"]["method"] == "plugin"
    assert ondemand["spec"]["pluginConfiguration"] == {"name": "barman-cloud.cloudnative-pg.io"}
    name = ondemand["metadata"]["name"]
    time.sleep(3)  # the command waits meanwhile
    assert process.poll() is None
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    _set_status(deploy, "postgresql.cnpg.io/v1", "Backup", name, "iam-pori",
                {"phase": "completed", "startedAt": now, "stoppedAt": now})  # fmt: skip
    stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT_SECONDS)
    assert process.returncode == 0, stdout + stderr
    assert f"Backup {name} completed" in stdout

    result = deploy.ociam(*up, **_kc_java())
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"backup gate: dev-pori: last completed backup {name} finished" in result.stdout
    assert _version(deploy, "pori") == NEW
    sts = deploy.plane.client.get("apps/v1", "StatefulSet", "keycloak", "iam-pori") or {}
    assert sts["spec"]["updateStrategy"]["type"] == "RollingUpdate"  # Keycloak said so


def _keycloak_pods(deploy: RealDeploy, city: str) -> list[dict[str, Any]]:
    return deploy.plane.client.list("v1", "Pod", f"iam-{city}",
                                    "app.kubernetes.io/name=keycloak")  # fmt: skip


def test_a_change_keycloak_was_not_asked_about_is_recreated(
    deploy: RealDeploy, tmp_path: Path
) -> None:
    before = {p["metadata"]["uid"] for p in _keycloak_pods(deploy, "porvoo")}
    assert before
    result = deploy.ociam("up", "--engine", "pulumi", "--env", "dev", "--waves", "canary=porvoo",
                          "--health-timeout", "120", **_no_distributions(tmp_path))  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert (
        f"update-compatibility not run for Keycloak {OLD} -> {NEW}: no Keycloak distribution "
        f"for {OLD}, {NEW}"
    ) in result.stdout, output
    assert f"rollout: RECREATE, OUTAGE: all 1 Keycloak pod(s) stop before {NEW}" in result.stdout
    assert f"health gate: healthy (Keycloak {NEW})" in result.stdout, output
    sts = deploy.plane.client.get("apps/v1", "StatefulSet", "keycloak", "iam-porvoo") or {}
    assert sts["spec"]["updateStrategy"] == {"type": "OnDelete"}
    # OnDelete replaces nothing by itself: ociam deleted the old pod, the new one is
    # on the new revision
    pods = _keycloak_pods(deploy, "porvoo")
    assert pods and not {p["metadata"]["uid"] for p in pods} & before
    revisions = {p["metadata"]["labels"]["controller-revision-hash"] for p in pods}
    assert revisions == {sts["status"]["updateRevision"]}
    assert _version(deploy, "porvoo") == NEW


def test_the_restore_drill_creates_and_removes_its_namespace(deploy: RealDeploy) -> None:
    process = subprocess.Popen(
        [OCIAM, "restore-drill", "--env", "dev", "--city", "pori", "--timeout", "120"],
        cwd=deploy.checkout, env=deploy.engine.env(deploy.plane.kubeconfig),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    client = deploy.plane.client
    cluster = wait_for(
        "the drill's Cluster",
        lambda: client.get("postgresql.cnpg.io/v1", "Cluster", "keycloak-db-drill",
                           "iam-pori-drill"),
        60,
    )  # fmt: skip
    assert cluster["spec"]["bootstrap"] == {"recovery": {"source": "origin"}}
    assert "plugins" not in cluster["spec"]  # never archives into the city's folder
    store = client.get("barmancloud.cnpg.io/v1", "ObjectStore", "keycloak-db-backup",
                       "iam-pori-drill") or {}  # fmt: skip
    city_store = client.get("barmancloud.cnpg.io/v1", "ObjectStore", "keycloak-db-backup",
                            "iam-pori") or {}  # fmt: skip
    assert (
        store["spec"]["configuration"]["destinationPath"]
        == (city_store["spec"]["configuration"]["destinationPath"])
    )
    policies = {p["metadata"]["name"] for p in client.list(
        "networking.k8s.io/v1", "NetworkPolicy", "iam-pori-drill")}  # fmt: skip
    assert policies == {"default-deny", "allow-dns", "postgres-ingress", "postgres-egress"}
    assert client.get("v1", "Secret", "pg-backup-s3", "iam-pori-drill") is not None
    _set_status(deploy, "postgresql.cnpg.io/v1", "Cluster", "keycloak-db-drill",
                "iam-pori-drill", {"phase": "Cluster in healthy state"})  # fmt: skip
    stdout, stderr = process.communicate(timeout=COMMAND_TIMEOUT_SECONDS)
    assert process.returncode == 0, stdout + stderr
    assert "restored and healthy" in stdout
    deploy.wait_until_gone("iam-pori-drill")


def test_skipping_the_backup_gate_applies_the_change_loudly(
    deploy: RealDeploy, tmp_path: Path
) -> None:
    """A PostgreSQL upgrade of Porvoo with no Backup at all: refused, then applied with
    --skip-backup-gate (dev: no --yes needed), the warning on stderr and in the summary."""
    client = deploy.plane.client
    for backup in client.list("postgresql.cnpg.io/v1", "Backup", "iam-porvoo"):
        client.delete("postgresql.cnpg.io/v1", "Backup", backup["metadata"]["name"], "iam-porvoo")
    deploy.edit(ALL_YML, 'tag: "18.1-minimal-trixie"', 'tag: "18.2-minimal-trixie"')
    deploy.commit("dev: PostgreSQL 18.2")
    up = ("up", "--engine", "pulumi", "--env", "dev", "--city", "porvoo")
    refused = deploy.ociam(*up)
    assert refused.returncode == 1, refused.stdout + refused.stderr
    (line,) = _lines(refused.stdout, "REFUSED  dev-porvoo")
    assert "upgrades PostgreSQL 18.1-minimal-trixie -> 18.2-minimal-trixie" in line, line

    summary = tmp_path / "summary.md"
    result = deploy.ociam(*up, "--skip-backup-gate", "--summary-md", str(summary))
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert (
        "WARNING: --skip-backup-gate: upgrades and database replacements are applied "
        "WITHOUT checking for a fresh backup" in result.stderr
    ), output
    assert (
        "BACKUP GATE SKIPPED for dev-porvoo (--skip-backup-gate): this change upgrades "
        "PostgreSQL 18.1-minimal-trixie -> 18.2-minimal-trixie" in result.stderr
    ), output
    text = summary.read_text(encoding="utf-8")
    assert "| `dev-porvoo` | backup gate: BACKUP GATE SKIPPED for dev-porvoo" in text, text
    cluster = client.get("postgresql.cnpg.io/v1", "Cluster", "keycloak-db", "iam-porvoo") or {}
    assert ":18.2-minimal-trixie" in cluster["spec"]["imageName"], cluster["spec"]
    assert client.list("postgresql.cnpg.io/v1", "Backup", "iam-porvoo") == []


def test_a_passing_canary_upgrade_lets_the_rest_proceed(deploy: RealDeploy, tmp_path: Path) -> None:
    """The PostgreSQL 18.2 pin of the previous test, for the two cities not yet on it:
    Pori's canary upgrade passes the backup gate and its health gate, then the rest wave
    (Kajaani's upgrade, Porvoo unchanged) runs; every city ends on 18.2."""
    for city in CITIES:
        _completed_backup(deploy, city, "keycloak-db-wave", hours_ago=1)
    summary = tmp_path / "summary.md"
    result = _up_canary_pori_first(deploy, summary)
    output = result.stdout + result.stderr
    assert result.stderr.index("wave canary: dev-pori") < result.stderr.index("wave rest:")
    assert result.stdout.count("health gate: healthy") == 3, output
    client = deploy.plane.client
    for city in CITIES:
        cluster = client.get("postgresql.cnpg.io/v1", "Cluster", "keycloak-db", f"iam-{city}")
        assert ":18.2-minimal-trixie" in (cluster or {})["spec"]["imageName"], city
    text = summary.read_text(encoding="utf-8")
    for city in ("pori", "kajaani"):
        change = "version: PostgreSQL 18.1-minimal-trixie -> 18.2-minimal-trixie"
        assert f"| `dev-{city}` | {change} |" in text, text
        assert f"| `dev-{city}` | backup gate: dev-{city}: last completed backup" in text, text
    assert "| `dev-porvoo` | version:" not in text  # already on 18.2
    assert f"canary     dev-pori                 ok       Keycloak {NEW}" in text, text
    assert f"rest       dev-kajaani              ok       Keycloak {NEW}" in text, text
