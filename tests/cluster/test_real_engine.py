"""The real Pulumi engine, through ``ociam``, against the real control plane: one city end
to end, two at once, a change on a git branch, secrets, destroy.

The tests of this module run in order on one deployment (a module fixture): a stack
that does not exist destroyed, a missing secret config, up, an immediate preview, an
update, a replacement, refresh (no drift, then drift made by hand), the secret checks, a
wrong passphrase, two cities at once, destroy, and last the secret scan of everything
printed and stored. Everything runs in a copy of the checkout (stack config files are
written next to the program) with a private PULUMI_HOME and local state
(tests/realsys/pulumi_env.py). What this cannot show: pods that really run (kwok marks
them Ready; the keycloak tier runs them), Helm releases (no chart registry), and a remote
state backend.

The replacement the API makes necessary: a realm change reaches the apply Job's pod
template (its ConfigMap volume), and a Job's ``spec.template`` is immutable in the API;
the test shows the real API server refusing that change in place, and the engine
replacing the Job for it. No other catalog value reaches an immutable field: the
StatefulSet's selector, serviceName and podManagementPolicy, the Services' clusterIP,
the Secrets' type, the ScheduledBackup's cluster reference and the CloudNativePG
Cluster's serviceAccountName are the same for every catalog (docs/engines.md).
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.real_deploy import RealDeploy, missing_from
from tests.realsys.control_plane import ApiError, ControlPlane
from tests.realsys.pulumi_env import git

DEMO = "inventories/dev/group_vars/demo.yml"
NAMESPACE = "iam-demo"
#: the catalog's backup block for the demo city, with another schedule (a city file that
#: sets ``backup`` replaces the whole default, as Ansible merges)
BACKUP_OVERRIDE = """
backup:
  object_store:
    destination_path: "s3://ociam-dev-pg-backups/"
    endpoint_url: "https://a3s.fi"
    credentials_secret: pg-backup-s3
    access_key_id: {pulumi_secret: backupAccessKeyId}
    secret_access_key: {pulumi_secret: backupSecretAccessKey}
  retention: "7d"
  schedule: "0 30 3 * * *"
"""
INTRANET_CALLBACK = '      - "https://dev-intra.demo.example/oauth2/callback"\n'
NEW_CALLBACK = "https://dev-intra.demo.example/oauth2/callback2"
#: a dev city no test deploys: its stack is never created, then created without secrets
UNDEPLOYED = "heinola"
#: secrets the stack generates (random provider), read from the cluster while it has them
GENERATED: list[str] = []


@pytest.fixture(scope="module")
def deploy(
    control_plane: ControlPlane, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RealDeploy]:
    deploy = RealDeploy.create(control_plane, tmp_path_factory.mktemp("real-engine"))
    checkout = deploy.checkout
    # dev protects nothing by default; here it protects its databases, so that destroy's
    # refusal is shown on the dev stack too
    deploy.edit(
        "inventories/dev/group_vars/all.yml",
        "  secrets_provider: passphrase\n",
        "  secrets_provider: passphrase\n  protect_databases: true\n",
    )
    deploy.commit("dev: protect the databases")
    deploy.set_city_secrets("dev", "demo")
    # stack config files are committed, as in a user's repository (values encrypted)
    git(checkout, "add", "stacks/city/Pulumi.dev-demo.yaml")
    deploy.commit("dev-demo: stack config")
    try:
        yield deploy
    finally:  # leave the shared control plane as it was found
        for city in ("demo", "pori", "kajaani"):
            deploy.ociam("destroy", "--engine", "pulumi", "--env", "dev", "--city", city,
                         "--delete-protected", "--yes")  # fmt: skip
            deploy.plane.client.delete("v1", "Namespace", f"iam-{city}")
            deploy.wait_until_gone(f"iam-{city}")


def _json(result: Any) -> dict[str, Any]:
    assert result.returncode in {0, 1}, result.stdout + result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _changes(result: Any) -> list[tuple[str, str]]:
    (stack,) = _json(result)["stacks"]
    assert stack["status"] == "ok", stack["error"]
    return sorted((c["op"], c["name"]) for c in stack["changes"])


def _preview(deploy: RealDeploy, *args: str, **env: str) -> Any:
    return deploy.ociam("preview", "--engine", "pulumi", "--env", "dev", "--city", "demo",
                        "--output", "json", *args, **env)  # fmt: skip


def _up(deploy: RealDeploy) -> None:
    result = deploy.ociam("up", "--engine", "pulumi", "--env", "dev", "--city", "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok       dev-demo" in result.stdout


def test_destroy_of_a_stack_that_does_not_exist_fails_clearly(deploy: RealDeploy) -> None:
    result = deploy.ociam("destroy", "--engine", "pulumi", "--env", "dev", "--city", UNDEPLOYED,
                          "--yes")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"no stack named 'dev-{UNDEPLOYED}' found" in result.stdout + result.stderr
    stacks = deploy.engine.pulumi("stack", "ls", "--json", cwd=deploy.checkout / "stacks" / "city")
    assert [s["name"] for s in json.loads(stacks)] == ["dev-demo"]  # not created by destroy
    assert not (deploy.checkout / f"stacks/city/Pulumi.dev-{UNDEPLOYED}.yaml").exists()


def test_missing_secret_config_is_named_and_nothing_previews(deploy: RealDeploy) -> None:
    stack = f"dev-{UNDEPLOYED}"
    city_dir = deploy.checkout / "stacks" / "city"
    deploy.engine.pulumi("stack", "init", stack, "--secrets-provider", "passphrase", cwd=city_dir)
    try:
        value = f"s3cr3t-ldapBindPassword-{secrets.token_urlsafe(12)}"
        deploy.secret_values.append(value)
        deploy.engine.set_secret(deploy.checkout, stack, "ociam:ldapBindPassword", value)
        result = deploy.ociam("preview", "--engine", "pulumi", "--env", "dev", "--city",
                              UNDEPLOYED)  # fmt: skip
        assert result.returncode == 1, result.stdout + result.stderr
        (line,) = [line for line in result.stdout.splitlines() if line.startswith("FAILED ")]
        assert line.split()[1] == stack, line
        assert (
            "secret config missing: ociam:backupAccessKeyId, ociam:backupSecretAccessKey, "
            "ociam:intranetClientSecret; set each with `pulumi config set --secret KEY --stack "
            f"{stack}` in stacks/city"
        ) in line, line
        # ociam's own check, before the engine runs the program (which would fail on the
        # first ``require_secret`` only, with "Missing required configuration variable")
        assert "Missing required configuration" not in result.stdout + result.stderr
    finally:  # stack and config file gone: ``--changed-since`` below must not see them
        deploy.engine.pulumi("stack", "rm", stack, "--yes", cwd=city_dir)


def test_up_creates_everything_the_render_has(deploy: RealDeploy, tmp_path: Path) -> None:
    _up(deploy)
    rendered = deploy.rendered("dev", "demo", tmp_path / "render")
    problems = []
    for obj in rendered:
        where = f"{obj['kind']}/{obj['metadata']['name']}"
        live = deploy.live(obj)
        if live is None:
            problems.append(f"{where}: not in the cluster")
            continue
        problems += missing_from(obj["metadata"].get("labels", {}), live["metadata"]["labels"],
                                 f"{where}.labels")  # fmt: skip
        if obj["kind"] == "Secret":  # values are <secret> in the render: compare the keys
            keys = set(obj.get("stringData", {})) | set(obj.get("data", {}))
            if keys != set(live.get("data", {})):
                problems.append(f"{where}: keys {sorted(live.get('data', {}))}, render {keys}")
            continue
        body = {k: v for k, v in obj.items() if k not in {"apiVersion", "kind", "metadata"}}
        problems += missing_from(body, live, where)
    assert problems == [], "\n".join(problems)
    for api_version, kind in sorted({(o["apiVersion"], o["kind"]) for o in rendered}):
        if kind == "Namespace":
            continue
        expected = {o["metadata"]["name"] for o in rendered if o["kind"] == kind}
        assert deploy.live_names(api_version, kind, NAMESPACE) == expected, kind


def test_an_immediate_preview_changes_nothing(deploy: RealDeploy) -> None:
    # no --engine: ``auto`` takes the Pulumi CLI on PATH
    result = deploy.ociam("preview", "--env", "dev", "--city", "demo", "--output", "json")
    assert _json(result)["engine"] == "pulumi", result.stderr
    assert "offline" not in result.stderr
    assert _changes(result) == []
    (stack,) = _json(result)["stacks"]
    assert set(stack["steps"]) == {"same"}


def test_a_catalog_change_previews_exactly_its_update_and_up_applies_it(
    deploy: RealDeploy,
) -> None:
    deploy.edit(DEMO, "\nconnector:", BACKUP_OVERRIDE + "\nconnector:")
    assert _changes(_preview(deploy)) == [("update", "database-scheduled-backup")]
    _up(deploy)
    live = deploy.plane.client.get(
        "postgresql.cnpg.io/v1", "ScheduledBackup", "keycloak-db-daily", NAMESPACE
    ) or {"spec": {}}
    assert live["spec"].get("schedule") == "0 30 3 * * *", live
    assert _changes(_preview(deploy)) == []
    deploy.commit("demo: backups at 03:30")


def test_a_realm_change_on_a_branch_is_a_replacement_named_in_the_summary(
    deploy: RealDeploy, tmp_path: Path
) -> None:
    git(deploy.checkout, "checkout", "-q", "-b", "more-callbacks")
    deploy.edit(DEMO, INTRANET_CALLBACK, f'{INTRANET_CALLBACK}      - "{NEW_CALLBACK}"\n')
    deploy.commit("demo: a second intranet callback")
    # an unrelated change touching no stack
    (deploy.checkout / "NOTES.md").write_text("notes\n", encoding="utf-8")
    summary = tmp_path / "summary.md"
    result = deploy.ociam("preview", "--engine", "pulumi", "--changed-since", "main",
                          "--summary-md", str(summary), "--output", "json")  # fmt: skip
    stacks = _json(result)["stacks"]
    assert [s["stack"] for s in stacks] == ["dev-demo"], result.stderr
    assert "changed since main: 2 file(s), 1 stack(s) in dev, staging, prod" in result.stderr
    assert f"  dev-demo: {DEMO}\n" in result.stderr
    (stack,) = stacks
    assert sorted((c["op"], c["name"]) for c in stack["changes"]) == [
        ("replace", "realm-config-apply"),
        ("replace", "realm-config-apply-files"),
    ]
    reasons = {c["name"]: c["replace_reasons"] for c in stack["changes"]}
    assert "metadata.name" in reasons["realm-config-apply-files"]
    # the Job's pod template mounts the new ConfigMap: an immutable field of a Job
    template_reasons = [r for r in reasons["realm-config-apply"] if r.startswith("spec.template")]
    assert template_reasons, reasons
    _the_api_refuses_a_new_pod_template_for_the_live_job(deploy)
    assert stack["realm_changes"] == [
        f'employees: clients[intranet].redirectUris: added "{NEW_CALLBACK}"'
    ]
    text = summary.read_text(encoding="utf-8")
    assert "| `dev-demo` | ✅ ok | 0 | 0 | 2 | 0 |" in text
    replaced = text[text.index("**Replaced:**") :]
    assert "`realm-config-apply-files` (v1 ConfigMap) because of" in replaced
    assert "`realm-config-apply` (batch/v1 Job) because of" in replaced
    job_line = next(line for line in replaced.splitlines() if "`realm-config-apply` (" in line)
    assert all(f"`{reason}`" in job_line for reason in template_reasons), job_line
    assert f'clients[intranet].redirectUris: added "{NEW_CALLBACK}"' in text
    assert "from $PATH" not in text  # the plugins come from PULUMI_HOME, as a user's do
    _up(deploy)


def _the_api_refuses_a_new_pod_template_for_the_live_job(deploy: RealDeploy) -> None:
    """The real API server refuses to change the live apply Job's pod template in place
    (the replacement is the API's, not only the hashed name's)."""
    (live,) = [
        job
        for job in deploy.plane.client.list("batch/v1", "Job", NAMESPACE)
        if job["metadata"]["name"].startswith("realm-config-apply-")
    ]
    metadata = live["metadata"]
    changed: dict[str, Any] = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": metadata["name"], "namespace": NAMESPACE},
        "spec": live["spec"],
    }
    (volume,) = [v for v in changed["spec"]["template"]["spec"]["volumes"] if "configMap" in v]
    volume["configMap"]["name"] += "-changed"
    with pytest.raises(ApiError) as refused:
        deploy.plane.client.apply(changed, dry_run=True, field_manager="kubectl-by-hand")
    assert refused.value.status == 422, refused.value
    assert "spec.template" in str(refused.value) and "immutable" in str(refused.value)


def test_refresh_finds_no_drift(deploy: RealDeploy) -> None:
    result = deploy.ociam("refresh", "--engine", "pulumi", "--env", "dev", "--city", "demo",
                          "--output", "json")  # fmt: skip
    assert _changes(result) == []


def test_refresh_reports_drift_made_out_of_band_as_an_update(deploy: RealDeploy) -> None:
    # someone changes a field the stack set, with their own field manager
    deploy.plane.client.apply(
        {
            "apiVersion": "policy/v1",
            "kind": "PodDisruptionBudget",
            "metadata": {"name": "keycloak", "namespace": NAMESPACE},
            "spec": {"maxUnavailable": 2},
        },
        dry_run=False,
        field_manager="kubectl-by-hand",
    )
    result = deploy.ociam("refresh", "--engine", "pulumi", "--env", "dev", "--city", "demo",
                          "--output", "json")  # fmt: skip
    assert _changes(result) == [("update", "keycloak-pdb")]
    result = deploy.ociam("refresh", "--engine", "pulumi", "--env", "dev", "--city", "demo")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 to create, 0 to update, 0 to replace, 0 to delete" in result.stdout  # recorded
    assert "[dev-demo]" not in result.stdout + result.stderr  # no --show-output: no CLI lines


def _generated(deploy: RealDeploy, namespace: str) -> list[str]:
    """The values the stack's random provider made, as the cluster has them."""
    bootstrap = deploy.secret_data(namespace, "keycloak-bootstrap-admin")
    generated = [bootstrap[key] for key in ("password", "client-secret")]
    assert all(len(v) >= 16 for v in generated)
    return generated


def _assert_nothing_stored_or_printed_holds_a_secret(deploy: RealDeploy) -> None:
    """Every file of the state backend and the stack config files, and every line ociam
    printed, against the passphrase, every secret set on a stack and every generated one."""
    files = [p for p in deploy.engine.backend.rglob("*") if p.is_file()]
    files += sorted((deploy.checkout / "stacks").glob("*/Pulumi.*.yaml"))
    stored = [p.read_text(encoding="utf-8", errors="replace") for p in files]
    assert any('"ciphertext"' in text for text in stored)
    watched = [deploy.engine.passphrase, *deploy.secret_values, *GENERATED]
    for where, texts in (("the state", stored), ("the output", deploy.printed)):
        for text in texts:
            leaked = [value for value in watched if value in text]
            assert leaked == [], f"{len(leaked)} secret value(s) in clear in {where}"


def test_no_secret_in_the_state_or_anything_printed(deploy: RealDeploy, tmp_path: Path) -> None:
    GENERATED.extend(_generated(deploy, NAMESPACE))
    realm_env = deploy.secret_data(NAMESPACE, "realm-config-env")
    # the values did reach the cluster: the checks below look for something real
    assert set(deploy.secret_values) & set(realm_env.values())
    _assert_nothing_stored_or_printed_holds_a_secret(deploy)
    # the command ``ociam app show`` gives a vendor reads the client secret from the stack
    shown = deploy.ociam("app", "show", "demo", "intranet", "--env", "dev", "--output", "json")
    assert shown.returncode == 0, shown.stdout + shown.stderr
    read = subprocess.run(
        ["bash", "-c", json.loads(shown.stdout)["secret_command"]],
        cwd=tmp_path,  # runnable from any directory
        env=deploy.engine.env(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert read.returncode == 0, read.stderr
    value = read.stdout.strip()
    assert value.startswith("s3cr3t-intranetClientSecret-") and value in deploy.secret_values, (
        "the command did not print the intranet client secret set on the stack"
    )


def test_a_wrong_passphrase_is_one_line_and_exit_1(deploy: RealDeploy) -> None:
    result = _preview(deploy, PULUMI_CONFIG_PASSPHRASE="not-the-passphrase")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    (stack,) = _json(result)["stacks"]
    assert stack["status"] == "failed"
    assert "incorrect passphrase" in stack["error"]


def test_two_cities_at_once_one_failing_does_not_stop_the_other(deploy: RealDeploy) -> None:
    git(deploy.checkout, "checkout", "-q", "-b", "two-cities")
    for city in ("pori", "kajaani"):
        deploy.set_city_secrets("dev", city)
        git(deploy.checkout, "add", f"stacks/city/Pulumi.dev-{city}.yaml")
        deploy.edit(f"inventories/dev/group_vars/{city}.yml", "\nrealms:", "\n# reviewed\nrealms:")
    # Kajaani's namespace exists already, made by hand with other Pod Security labels:
    # the API server refuses the stack's apply of those fields (a conflict)
    deploy.plane.client.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": "iam-kajaani",
                "labels": {"pod-security.kubernetes.io/enforce": "baseline"},
            },
        },
        dry_run=False,
        field_manager="kubectl-by-hand",
    )
    result = deploy.ociam("up", "--engine", "pulumi", "--env", "dev", "--changed-since", "HEAD",
                          "--jobs", "2", "--output", "json")  # fmt: skip
    stacks = {s["stack"]: s for s in _json(result)["stacks"]}
    assert result.returncode == 1
    assert {name: s["status"] for name, s in stacks.items()} == {
        "dev-kajaani": "failed",
        "dev-pori": "ok",
    }
    assert "conflict" in stacks["dev-kajaani"]["error"].lower(), stacks["dev-kajaani"]["error"]
    assert deploy.plane.client.get("apps/v1", "StatefulSet", "keycloak", "iam-pori") is not None
    # the same, for people: one line per stack and the count
    result = deploy.ociam("up", "--engine", "pulumi", "--env", "dev", "--changed-since", "HEAD",
                          "--jobs", "2")  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    lines = result.stdout.splitlines()
    assert any(line.startswith("ok       dev-pori") for line in lines), output
    assert any(line.startswith("FAILED   dev-kajaani") for line in lines), output
    assert "1 of 2 stack(s) ok, 1 not: dev-kajaani" in result.stdout


def test_destroy_is_refused_while_the_database_is_protected(deploy: RealDeploy) -> None:
    result = deploy.ociam("destroy", "--engine", "pulumi", "--env", "dev", "--city", "demo",
                          "--yes")  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr
    assert "REFUSED  dev-demo" in result.stdout
    assert "database-cluster" in result.stdout
    assert deploy.plane.client.get("v1", "Namespace", NAMESPACE) is not None

    result = deploy.ociam("destroy", "--engine", "pulumi", "--env", "dev", "--city", "demo",
                          "--delete-protected", "--yes")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    deploy.wait_until_gone(NAMESPACE)
    leftovers = [
        f"{kind}/{o['metadata']['name']}"
        for api_version, kind in (("v1", "Namespace"), ("rbac.authorization.k8s.io/v1",
                                                         "ClusterRoleBinding"))
        for o in deploy.plane.client.list(api_version, kind)
        if o["metadata"].get("labels", {}).get("ociam.fi/city") == "demo"
        or o["metadata"]["name"] == NAMESPACE
    ]  # fmt: skip
    assert leftovers == []


def test_at_the_end_nothing_printed_or_stored_holds_a_secret(deploy: RealDeploy) -> None:
    """After every command of the module (the later cities, the destroys, a run that
    streams the CLI's own lines with ``--show-output``)."""
    GENERATED.extend(_generated(deploy, "iam-pori"))
    result = deploy.ociam("preview", "--engine", "pulumi", "--env", "dev", "--city", "pori",
                          "--show-output")  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "[dev-pori] " in result.stderr  # the CLI's lines were printed, and are scanned
    _assert_nothing_stored_or_printed_holds_a_secret(deploy)
