"""Safe upgrades, the logic (ociam.upgrades): waves, the backup gate's verdict, versions
from a stack's state, the rollout decision, the health gate's reading of API objects,
and version changes in ``preview --changed-since`` and its summary (offline engine, on a
real git history). The same against a real API server and the real Pulumi engine:
tests/cluster/test_upgrades_real.py; Keycloak's own decision with the real
distributions: tests/cluster/test_update_compatibility.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from ociam.catalog.environment import RolloutWave
from ociam.engines.base import StackRef
from ociam.upgrades import compat
from ociam.upgrades.backup import BackupRecord, judge, on_demand_backup
from ociam.upgrades.compat import CompatResult
from ociam.upgrades.health import endpoint_problems, job_problems, statefulset_problems
from ociam.upgrades.plan import make_plan
from ociam.upgrades.versions import KEYCLOAK, POSTGRESQL, Versions, from_state
from ociam.upgrades.waves import Wave, WaveError, parse_spec, resolve
from tests.engines.conftest import FakePulumi, ociam
from tests.realsys.pulumi_env import copy_checkout, git

CITIES = ["demo", "heinola", "kajaani", "pori", "porvoo"]
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
DAY = timedelta(hours=24)


def test_waves_from_a_spec_with_a_rest_wave() -> None:
    waves = resolve(parse_spec("canary=pori,early=porvoo+kajaani,rest", []), CITIES, CITIES)
    assert waves == [
        Wave("canary", ("pori",)),
        Wave("early", ("porvoo", "kajaani")),
        Wave("rest", ("demo", "heinola")),
    ]


def test_waves_without_all_select_only_the_cities_they_name() -> None:
    assert resolve(parse_spec("canary=pori,rest=porvoo+kajaani", []), CITIES, None) == [
        Wave("canary", ("pori",)),
        Wave("rest", ("porvoo", "kajaani")),
    ]


def test_waves_declared_in_the_environment_defaults() -> None:
    declared = [RolloutWave(name="canary", cities=["pori"]), RolloutWave(name="rest", rest=True)]
    waves = resolve(parse_spec("defaults", declared), CITIES, CITIES)
    assert [w.name for w in waves] == ["canary", "rest"]
    assert waves[1].cities == ("demo", "heinola", "kajaani", "porvoo")


@pytest.mark.parametrize(
    ("spec", "selected", "message"),
    [
        ("canary=lahti,rest", CITIES, "no city 'lahti'"),
        ("a=pori,b=pori", CITIES, "already in an earlier wave"),
        ("canary=pori,rest", None, "a rest wave needs --all"),
        ("canary=pori", CITIES, "cities in no wave: demo, heinola, kajaani, porvoo"),
        ("a=pori,a=porvoo,rest", CITIES, "wave names repeat"),
        ("defaults", CITIES, "declares no upgrades.waves"),
        ("canary=,rest", CITIES, "wave 'canary='"),
    ],
)
def test_bad_wave_specs_are_refused(spec: str, selected: list[str] | None, message: str) -> None:
    with pytest.raises(WaveError, match=message.replace("(", r"\(")):
        resolve(parse_spec(spec, []), CITIES, selected)


def _backup(name: str, phase: str, hours_ago: float | None, cluster: str = "keycloak-db") -> Any:
    stopped = None if hours_ago is None else NOW - timedelta(hours=hours_ago)
    return BackupRecord(name, cluster, phase, stopped)


def test_the_backup_gate_takes_the_newest_completed_backup_of_the_cluster() -> None:
    records = [
        _backup("old", "completed", 50),
        _backup("fresh", "completed", 3),
        _backup("newer-but-failed", "failed", 1),
        _backup("running", "running", None),
        _backup("other-cluster", "completed", 0.5, cluster="something-else"),
    ]
    verdict = judge("dev-pori", "iam-pori", records, max_age=DAY, now=NOW)
    assert verdict.fresh
    assert verdict.backup is not None and verdict.backup.name == "fresh"
    assert "dev-pori: last completed backup fresh finished 3 h 0 min ago" in verdict.message


def test_the_backup_gate_refuses_an_old_backup_and_names_age_and_limit() -> None:
    verdict = judge("dev-pori", "iam-pori", [_backup("b1", "completed", 30)], max_age=DAY, now=NOW)
    assert not verdict.fresh
    assert "b1 finished 30 h 0 min ago" in verdict.message
    assert "limit 24 h 0 min (upgrades.backup_max_age_hours)" in verdict.message


def test_the_backup_gate_refuses_when_nothing_completed() -> None:
    records = [_backup("b1", "failed", 1), _backup("b2", "running", None)]
    verdict = judge("dev-pori", "iam-pori", records, max_age=DAY, now=NOW)
    assert not verdict.fresh
    assert "no completed backup of keycloak-db in iam-pori (2 Backup object(s), none" in (
        verdict.message
    )


def test_an_on_demand_backup_uses_the_barman_cloud_plugin() -> None:
    obj = on_demand_backup("iam-pori", NOW, {"ociam.fi/city": "pori"})
    assert obj["metadata"]["name"] == "keycloak-db-ondemand-20261201120000"
    assert obj["spec"] == {
        "cluster": {"name": "keycloak-db"},
        "method": "plugin",
        "pluginConfiguration": {"name": "barman-cloud.cloudnative-pg.io"},
    }


def _state_of_render(env: str, city: str) -> list[dict[str, Any]]:
    """A stack export's resources, from the offline render's steps (type and inputs)."""
    from ociam.engines.offline import OfflineEngine

    result = OfflineEngine(Path(__file__).parents[2]).preview(StackRef(env, city))
    return [{"type": s.type, "inputs": s.inputs or {}} for s in result.steps]


def test_versions_from_a_stack_state_are_what_was_rendered() -> None:
    deployed = from_state(_state_of_render("dev", "demo"))
    assert deployed is not None and deployed.has_database
    assert deployed.values == {
        "Keycloak": "26.7.4",
        "keycloak-config-cli": "6.5.0-26.5.4",
        "PostgreSQL": "18.1-minimal-trixie",
    }
    assert "--db=postgres" in deployed.keycloak_options
    assert "--cache-stack=jdbc-ping" in deployed.keycloak_options
    assert from_state([]) is None


def test_a_keycloak_change_rolls_only_when_keycloak_said_so() -> None:
    stack = StackRef("dev", "pori")
    old = Versions({KEYCLOAK: "26.7.3", POSTGRESQL: "18.1"}, ("--db=postgres",), True)
    new = Versions({KEYCLOAK: "26.7.4", POSTGRESQL: "18.1"}, ("--db=postgres",))
    plan = make_plan(stack, old, new, run_check=False, keycloak_replicas=2)
    assert plan.rollout == "recreate"  # nothing said it may roll
    assert plan.program_env() == {"OCIAM_KEYCLOAK_ROLLOUT": "recreate"}
    assert any("OUTAGE: all 2 Keycloak pod(s) stop before 26.7.4" in line for line in plan.lines())
    assert plan.gate_reasons == ["upgrades Keycloak 26.7.3 -> 26.7.4"]
    said = CompatResult("26.7.3", "26.7.4", 0, "rolling", "[OK] Rolling Update is available.")
    rolling = make_plan(stack, old, new, run_check=False)
    rolling = type(rolling)(stack, rolling.changes, compat=said)
    assert rolling.rollout == "rolling" and rolling.program_env() == {}
    assert "exit 0 (rolling update possible)" in rolling.lines()[1]
    same = make_plan(stack, old, old, run_check=False)
    assert (same.rollout, same.gate_reasons, same.lines()) == ("none", [], [])


def test_without_java_21_the_preview_says_so_in_one_line_and_recreates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Debian 12 has OpenJDK 17 only: the distributions are there, kc.sh cannot run."""
    for version in ("26.7.3", "26.7.4"):
        kc = tmp_path / "dists" / f"keycloak-{version}" / "bin" / "kc.sh"
        kc.parent.mkdir(parents=True)
        kc.write_text("#!/bin/sh\nexit 0\n")  # would say "may roll" if it ran
    jdk17 = tmp_path / "jvm" / "java-17-openjdk-amd64"
    (jdk17 / "bin").mkdir(parents=True)
    (jdk17 / "bin" / "java").write_text("#!/bin/sh\n")
    (jdk17 / "release").write_text('JAVA_VERSION="17.0.17"\n')
    monkeypatch.setattr(compat, "JVM_DIR", tmp_path / "jvm")
    environ = {"OCIAM_KEYCLOAK_DIST_DIR": str(tmp_path / "dists"),
               "OCIAM_CACHE_DIR": str(tmp_path / "cache"), "JAVA_HOME": str(jdk17)}  # fmt: skip
    old = Versions({KEYCLOAK: "26.7.3"}, ("--db=postgres",), True)
    new = Versions({KEYCLOAK: "26.7.4"}, ("--db=postgres",))
    plan = make_plan(StackRef("dev", "pori"), old, new, environ=environ)
    assert plan.rollout == "recreate"
    said = [line for line in plan.lines() if "update-compatibility" in line]
    assert said == [
        "update-compatibility not run for Keycloak 26.7.3 -> 26.7.4: no Java 21 or newer (set "
        "OCIAM_JAVA_HOME to a JDK 21+, or OCIAM_JAVA_IMAGE to a container image with one; "
        f"Debian 12's apt has only OpenJDK 17): JAVA_HOME={jdk17}: Java 17; {tmp_path / 'jvm'} "
        "has java-17-openjdk-amd64 (Java 17); rolling out as a recreate (the safe choice)"
    ]
    assert not (tmp_path / "cache" / "update-compatibility").exists()  # asked again next time


EXTERNAL_DATABASE = """
database:
  mode: external
  external:
    host: pg.pori.example
    database: keycloak
    username: keycloak
    password: {pulumi_secret: externalDbPassword}
    egress_cidrs: [10.9.0.0/24]
"""


class _StateEngine:
    """Pulumi's side of ``up``: the stack's state as given, ``up`` recorded."""

    def __init__(self, state: list[dict[str, Any]]) -> None:
        self.state, self.applied, self.program_env = state, [], {}  # type: ignore[var-annotated]

    def exported_resources(self, stack: StackRef) -> list[dict[str, Any]]:
        return self.state

    def up(self, stack: StackRef) -> str:
        self.applied.append(stack)
        return "applied"


class _NoBackups:
    """A cluster without Backup objects (and without a CloudNativePG Cluster)."""

    def list(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    def get(self, *args: Any, **kwargs: Any) -> None:
        return None


def test_a_city_on_an_external_database_is_not_held_at_the_cnpg_backup_gate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its Keycloak upgrade cannot wait for a CloudNativePG Backup that can never exist
    (``ociam backup`` refuses such a city): the gate does not apply, and says so loudly."""
    from ociam.engines.base import RefusedError
    from ociam.engines.offline import OfflineEngine
    from ociam.upgrades import plan as plan_module
    from ociam.upgrades.rollout import UpgradeAwareUp

    checkout = copy_checkout(tmp_path / "checkout")
    pori = checkout / "inventories/dev/group_vars/pori.yml"
    pori.write_text(pori.read_text(encoding="utf-8") + EXTERNAL_DATABASE, encoding="utf-8")
    stack = StackRef("dev", "pori")
    rendered = [{"type": s.type, "inputs": s.inputs or {}}
                for s in OfflineEngine(checkout).preview(stack).steps]  # fmt: skip
    state = json.loads(json.dumps(rendered).replace("keycloak:26.7.4", "keycloak:26.7.3"))
    said = CompatResult("26.7.3", "26.7.4", 0, "rolling", "[OK] Rolling Update is available.")
    monkeypatch.setattr(plan_module, "check_versions", lambda *args, **kwargs: said)
    warned: list[str] = []
    engine = _StateEngine(state)
    up = UpgradeAwareUp(checkout, engine, warn=warned.append)
    up._client = _NoBackups()  # type: ignore[assignment]
    _, rollout = up(stack)
    assert engine.applied == [stack]
    assert warned == [rollout.gate]
    assert rollout.gate == (
        "BACKUP GATE NOT APPLICABLE to dev-pori: it uses an external database "
        "(pg.pori.example:5432/keycloak), whose backups ociam neither sees nor takes; this "
        "change upgrades Keycloak 26.7.3 -> 26.7.4: a fresh backup of that database before "
        "it is applied is its operator's duty"
    )
    # the switch to it still is gated: the CloudNativePG Cluster in the state is deleted
    switching = _StateEngine(_state_of_render("dev", "pori"))
    up = UpgradeAwareUp(checkout, switching, warn=warned.append)
    up._client = _NoBackups()  # type: ignore[assignment]
    with pytest.raises(RefusedError, match="deletes the database Cluster") as refused:
        up(stack)
    assert "`ociam backup --env dev --city pori`" in str(refused.value)
    assert switching.applied == []


def test_backup_of_an_external_database_city_without_a_cluster_is_bad_input() -> None:
    """``ociam backup`` backs up the Cluster of a city moving to an external database
    (what the gate above asks for) and refuses a city that has none."""
    import typer

    from ociam.catalog import load_environment
    from ociam.commands.backup import _still_on_cloudnative_pg

    config = load_environment(Path(__file__).parents[2], "dev").city("pori")
    with pytest.raises(typer.Exit) as refused:
        _still_on_cloudnative_pg(_NoBackups(), "dev", config)  # type: ignore[arg-type]
    assert refused.value.exit_code == 2

    class StillThere(_NoBackups):
        def get(self, *args: Any, **kwargs: Any) -> Any:
            return {"kind": "Cluster"}

    _still_on_cloudnative_pg(StillThere(), "dev", config)  # type: ignore[arg-type]


def test_switching_to_an_external_database_is_gated() -> None:
    old = Versions({KEYCLOAK: "26.7.4"}, (), True)
    plan = make_plan(StackRef("dev", "pori"), old, old, uses_external_database=True)
    assert plan.gate_reasons == ["deletes the database Cluster (switch to an external database)"]


def test_a_recreate_renders_the_statefulset_on_delete(monkeypatch: pytest.MonkeyPatch) -> None:
    def strategy() -> Any:
        for step in _state_of_render("dev", "pori"):
            if step["type"] == "kubernetes:apps/v1:StatefulSet":
                return step["inputs"]["spec"]["updateStrategy"]
        raise AssertionError("no StatefulSet")

    assert strategy() == {"type": "RollingUpdate"}
    monkeypatch.setenv("OCIAM_KEYCLOAK_ROLLOUT", "recreate")
    assert strategy() == {"type": "OnDelete"}


def test_the_health_gate_reads_statefulset_jobs_and_endpoints() -> None:
    sts = {
        "metadata": {"generation": 3},
        "spec": {"replicas": 2},
        "status": {"observedGeneration": 3, "updatedReplicas": 2, "readyReplicas": 1},
    }
    assert statefulset_problems(sts) == ["StatefulSet keycloak: 1 of 2 pod(s) Ready"]
    sts["status"]["readyReplicas"] = 2
    assert statefulset_problems(sts) == []
    sts["metadata"]["generation"] = 4
    assert "has not seen the latest spec" in statefulset_problems(sts)[0]
    assert statefulset_problems(None) == ["StatefulSet keycloak not found"]
    done = {
        "metadata": {"name": "a"},
        "status": {"conditions": [{"type": "Complete", "status": "True"}]},
    }
    failed = {
        "metadata": {"name": "b"},
        "status": {"conditions": [{"type": "Failed", "status": "True"}]},
    }
    running = {"metadata": {"name": "c"}, "status": {}}
    assert job_problems([done, failed, running]) == ["Job b: failed", "Job c: running"]
    ready = {"endpoints": [{"conditions": {"ready": True}}]}
    assert endpoint_problems([ready]) == []
    assert endpoint_problems([{"endpoints": [{"conditions": {"ready": False}}]}]) != []


def test_the_rollout_reports_the_version_ready_pods_run() -> None:
    """Not the StatefulSet template's (the desired version): a city whose new pod was
    refused runs nothing, a half-rolled one runs both."""
    from ociam.upgrades.staged import running_version

    def pod(version: str, ready: bool) -> dict[str, Any]:
        return {"metadata": {"labels": {"app.kubernetes.io/version": version}},
                "status": {"conditions": [{"type": "Ready", "status": str(ready)}]}}  # fmt: skip

    class Cluster:
        def __init__(self, pods: list[dict[str, Any]], sts: bool = True) -> None:
            self.pods, self.sts = pods, sts

        def get(self, *args: Any) -> Any:
            labels = {"app.kubernetes.io/version": "26.7.4"}
            selector = {"matchLabels": {"app.kubernetes.io/name": "keycloak"}}
            spec = {"template": {"metadata": {"labels": labels}}, "selector": selector}
            return {"spec": spec} if self.sts else None

        def list(self, api: str, kind: str, namespace: str, selector: str) -> Any:
            assert (kind, selector) == ("pods", "app.kubernetes.io/name=keycloak")
            return self.pods

    assert running_version(Cluster([]), "iam-kajaani") == "none running (desired 26.7.4)"
    assert running_version(Cluster([pod("26.7.4", False)]), "x") == "none running (desired 26.7.4)"
    assert running_version(Cluster([pod("26.7.3", True)]), "x") == "26.7.3 (desired 26.7.4)"
    both = Cluster([pod("26.7.4", True), pod("26.7.3", True)])
    assert running_version(both, "x") == "26.7.3, 26.7.4 (desired 26.7.4)"
    assert running_version(Cluster([pod("26.7.4", True)]), "x") == "26.7.4"
    assert running_version(Cluster([], sts=False), "x") == "not deployed"


def test_changed_since_names_version_changes_and_the_outage(tmp_path: Path) -> None:
    checkout = copy_checkout(tmp_path / "checkout")
    git(checkout, "checkout", "-q", "-b", "upgrade")
    demo = checkout / "inventories/dev/group_vars/demo.yml"
    all_yml = (checkout / "inventories/dev/group_vars/all.yml").read_text(encoding="utf-8")
    images = all_yml[all_yml.index("images:") : all_yml.index("\ngateway:")]
    bumped = images.replace('tag: "26.7.4"', 'tag: "26.7.99"').replace(
        "18.1-minimal-trixie", "18.2-minimal-trixie"
    )
    demo.write_text(demo.read_text(encoding="utf-8") + "\n" + bumped, encoding="utf-8")
    platform = checkout / "stacks/platform/platform.yml"
    text = platform.read_text(encoding="utf-8")
    assert "    app_version: 1.30.0\n" in text
    platform.write_text(text.replace("    app_version: 1.30.0\n", "    app_version: 1.30.1\n"))
    git(checkout, "commit", "-q", "-am", "demo: Keycloak 26.7.99, PostgreSQL 18.2; CNPG 1.30.1")
    summary = tmp_path / "summary.md"
    run = ociam(
        "preview", "--changed-since", "main", "--engine", "offline", "--env", "dev",
        "--summary-md", str(summary), "--output", "json", root=checkout,
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    stacks = {s["stack"]: s for s in json.loads(run.stdout)["stacks"]}
    assert sorted(stacks) == ["dev-demo", "platform/dev"]
    assert stacks["platform/dev"]["upgrade"] == ["version: cloudnative_pg chart 1.30.0 -> 1.30.1"]
    lines = stacks["dev-demo"]["upgrade"]
    assert lines[:3] == [
        "version: Keycloak 26.7.4 -> 26.7.99",
        "version: PostgreSQL 18.1-minimal-trixie -> 18.2-minimal-trixie",
        "version: CloudNativePG operator 1.30.0 -> 1.30.1",
    ]
    assert "update-compatibility not run for Keycloak 26.7.4 -> 26.7.99: no Keycloak " in lines[3]
    assert lines[4].startswith("rollout: RECREATE, OUTAGE")
    text = summary.read_text(encoding="utf-8")
    assert "| `dev-demo` | version: Keycloak 26.7.4 -> 26.7.99 |" in text
    assert "| `dev-demo` | version: PostgreSQL 18.1-minimal-trixie -> 18.2-minimal-trixie |" in text
    assert "| `platform/dev` | version: cloudnative_pg chart 1.30.0 -> 1.30.1 |" in text
    assert "[!WARNING]" in text and "**unavailable**" in text


def test_skipping_the_backup_gate_in_prod_needs_yes() -> None:
    run = ociam("up", "--engine", "pulumi", "--env", "prod", "--city", "pori", "--skip-backup-gate")
    assert run.exit_code == 2, run.output
    assert "--skip-backup-gate in prod (prod-pori) needs --yes as well" in run.stderr
    assert "nothing was changed" in run.stderr


def test_a_bad_wave_spec_is_bad_input() -> None:
    run = ociam("up", "--engine", "pulumi", "--env", "dev", "--waves", "canary=lahti,rest", "--all")
    assert run.exit_code == 2, run.output
    assert "wave canary: no city 'lahti'" in run.stderr


def test_backup_without_a_kubeconfig_is_one_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    run = ociam("backup", "--env", "dev", "--city", "pori")
    assert run.exit_code == 1, run.output
    assert run.stderr.strip().splitlines() == [
        f"error: kubeconfig: cannot read {tmp_path / 'missing'}: No such file or directory"
    ]


def test_backup_of_an_unknown_city_is_bad_input() -> None:
    run = ociam("backup", "--env", "dev", "--city", "lahti")
    assert run.exit_code == 2, run.output


def test_the_restore_drill_renders_without_a_cluster() -> None:
    run = ociam("restore-drill", "--env", "prod", "--city", "pori", "--render")
    assert run.exit_code == 0, run.output
    docs = [d for d in yaml.safe_load_all(run.stdout) if d]
    kinds = [(d["kind"], d["metadata"]["name"]) for d in docs]
    assert kinds == [
        ("Namespace", "iam-pori-drill"),
        ("NetworkPolicy", "default-deny"),
        ("NetworkPolicy", "allow-dns"),
        ("NetworkPolicy", "postgres-ingress"),
        ("NetworkPolicy", "postgres-egress"),
        ("ObjectStore", "keycloak-db-backup"),
        ("Cluster", "keycloak-db-drill"),
    ]
    cluster = docs[-1]["spec"]
    assert cluster["bootstrap"] == {"recovery": {"source": "origin"}}
    assert "plugins" not in cluster
    assert docs[-2]["spec"]["configuration"]["destinationPath"].endswith("/pori")


# fake CLI: the real platform stack cannot be deployed here (its Helm releases fetch
# charts from the internet), so no real state of it exists to preview a chart change on
def test_changed_since_names_operator_changes_with_the_pulumi_engine_too(
    tmp_path: Path, fake_pulumi: FakePulumi
) -> None:
    checkout = copy_checkout(tmp_path / "checkout")
    git(checkout, "checkout", "-q", "-b", "operator")
    platform = checkout / "stacks/platform/platform.yml"
    text = platform.read_text(encoding="utf-8")
    platform.write_text(text.replace("    app_version: 1.30.0\n", "    app_version: 1.30.1\n"))
    git(checkout, "commit", "-q", "-am", "CNPG 1.30.1")
    fake_pulumi.stack("dev")
    summary = tmp_path / "summary.md"
    run = ociam(
        "preview", "--changed-since", "main", "--engine", "pulumi", "--env", "dev",
        "--summary-md", str(summary), "--output", "json", root=checkout,
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    stacks = {s["stack"]: s for s in json.loads(run.stdout)["stacks"]}
    assert stacks["platform/dev"]["upgrade"] == ["version: cloudnative_pg chart 1.30.0 -> 1.30.1"]
    text = summary.read_text(encoding="utf-8")
    assert "| `platform/dev` | version: cloudnative_pg chart 1.30.0 -> 1.30.1 |" in text
