"""The Pulumi engine against a fake ``pulumi`` that records what it is asked
(fake_pulumi.py): only what the real CLI (tests/cluster/test_real_engine.py,
test_real_platform.py) cannot be made to produce here, or not show; each test says which.
What a run does for real (create, preview, update, replace, refresh with and without
drift, destroy, a stack that does not exist destroyed, a missing secret config, two stacks
with one failing, cities skipped when their platform fails, ``--show-output``, dev
without confirmation, a stack selected again) is tested there; here:

* how ociam calls the CLI where that is a security property the real run cannot show:
  ``stack export`` and ``stack history`` never with ``--show-secrets``, the passphrase
  never an argument, and scrubbed from a CLI error that echoes it (a real CLI does not);
* results a provider here cannot produce: a database replacement (the caution block),
  secret stack outputs;
* platform-first ordering by recorded time spans;
* CLI versions: too old to use, old enough for a file event log;
* the prod confirmation prompt.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.engines.conftest import PROJECT_ROOT, FakePulumi, ociam

CLUSTER = "kubernetes:postgresql.cnpg.io/v1:Cluster"
DB_REPLACED = [
    {"op": "replace", "type": CLUSTER, "name": "database-cluster", "keys": ["spec.storage"]},
    {"op": "update", "type": "kubernetes:apps/v1:StatefulSet", "name": "keycloak-statefulset"},
    {"op": "create", "type": "kubernetes:core/v1:ConfigMap", "name": "realm-config"},
    {"op": "same", "type": "kubernetes:core/v1:Service", "name": "keycloak-service"},
]


def _args(call: dict[str, object]) -> list[str]:
    return [a for a in call["argv"] if a != "--non-interactive"]  # type: ignore[attr-defined]


# fake: the argv and environment ociam gives the CLI (no --show-secrets, the passphrase
# only in the environment) and a database replace, which the real provider never plans
def test_preview_selects_or_creates_the_stack_and_reads_engine_events(
    fake_pulumi: FakePulumi,
) -> None:
    fake_pulumi.stack("dev-demo", steps=DB_REPLACED)
    run = ociam("preview", "--env", "dev", "--city", "demo", "--engine", "pulumi")
    assert run.exit_code == 0, run.output

    calls = fake_pulumi.calls()
    commands = [_args(c)[:2] for c in calls]
    assert commands[:5] == [
        ["version"],
        ["stack", "select"],  # the state's versions (ociam.upgrades): no such stack yet
        ["stack", "select"],  # fails again: the preview creates it
        ["stack", "init"],
        ["config", "--json"],
    ]
    assert _args(calls[3]) == ["stack", "init", "dev-demo", "--secrets-provider", "passphrase"]
    preview = fake_pulumi.commands("preview")[0]
    args = _args(preview)
    assert args[args.index("--stack") + 1] == "dev-demo"
    assert args[args.index("--event-log") + 1].startswith("tcp://127.0.0.1:")
    assert "--yes" not in args and "--show-secrets" not in " ".join(_args(c)[0] for c in calls)
    # the project directory of the city program, the backend and the passphrase
    assert preview["cwd"] == str(PROJECT_ROOT / "stacks" / "city")
    assert preview["env"]["PULUMI_BACKEND_URL"] == f"file://{fake_pulumi.backend}"
    assert fake_pulumi.backend.is_dir()
    assert preview["env"]["PULUMI_CONFIG_PASSPHRASE"] == fake_pulumi.passphrase
    assert preview["env"]["PULUMI_AUTOMATION_API"] == "true"
    assert all(c["env"]["PULUMI_BACKEND_URL"] for c in calls[1:])

    # one result line, the replacement named with its reason, the passphrase nowhere
    lines = [line for line in run.stdout.splitlines() if line.startswith("ok ")]
    assert len(lines) == 1
    assert "1 to create, 1 to update, 1 to replace, 0 to delete, 1 unchanged" in lines[0]
    assert "[DATABASE REPLACE database-cluster]" in lines[0]
    assert "database-cluster (replace: spec.storage)" in run.stdout
    assert fake_pulumi.passphrase not in run.output


# fake: a replaced CloudNativePG Cluster; the real provider updates custom resources in
# place, and no catalog value renames the Cluster
def test_json_output_lists_every_change(fake_pulumi: FakePulumi) -> None:
    fake_pulumi.stack("dev-demo", steps=DB_REPLACED)
    run = ociam("preview", "--env", "dev", "--city", "demo", "--engine", "pulumi", "-o", "json")
    assert run.exit_code == 0, run.output
    stack = json.loads(run.stdout)["stacks"][0]
    assert stack["status"] == "ok"
    assert stack["steps"] == {"create": 1, "replace": 1, "same": 1, "update": 1}
    replaced = [c for c in stack["changes"] if c["op"] == "replace"]
    assert replaced == [
        {
            "op": "replace",
            "type": CLUSTER,
            "name": "database-cluster",
            "replace_reasons": ["spec.storage"],
        }
    ]


# fake: the database caution block needs a replaced Cluster (see above)
def test_summary_markdown_names_replacements_and_calls_out_the_database(
    fake_pulumi: FakePulumi, tmp_path: Path
) -> None:
    fake_pulumi.stack("dev-demo", steps=DB_REPLACED)
    fake_pulumi.stack("dev-pori", fail="preview")
    summary = tmp_path / "out" / "summary.md"
    run = ociam(
        "preview", "--env", "dev", "--city", "demo", "--engine", "pulumi",
        "--summary-md", str(summary),
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("<!-- ociam-summary -->\n## ociam preview: 1 stack(s), pulumi engine")
    assert (
        "**Database replaced** in `dev-demo`: `database-cluster` (postgresql.cnpg.io/v1 Cluster)"
        in text
    )
    assert "| `dev-demo` | ✅ ok | 1 | 1 | 1 | 0 | 1 |" in text
    assert "- `database-cluster` (postgresql.cnpg.io/v1 Cluster) because of `spec.storage`" in text
    assert fake_pulumi.passphrase not in text


# fake: a CLI error that echoes the passphrase; the real CLI never prints it
def test_the_passphrase_never_reaches_the_output(fake_pulumi: FakePulumi, tmp_path: Path) -> None:
    fake_pulumi.stack("dev-demo", leak_passphrase=True)
    summary = tmp_path / "summary.md"
    run = ociam(
        "preview", "--env", "dev", "--city", "demo", "--engine", "pulumi",
        "--summary-md", str(summary),
    )  # fmt: skip
    assert run.exit_code == 1
    assert "passphrase '<secret>' is wrong" in run.output
    assert fake_pulumi.passphrase not in run.output
    assert fake_pulumi.passphrase not in summary.read_text(encoding="utf-8")


# fake: that the CLI gets PULUMI_CONFIG_PASSPHRASE_FILE and no PULUMI_CONFIG_PASSPHRASE
# is only seen by recording the CLI's environment
def test_passphrase_from_a_file_is_passed_through_and_scrubbed(
    fake_pulumi: FakePulumi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret_file = tmp_path / "passphrase"
    secret_file.write_text(fake_pulumi.passphrase + "\n", encoding="utf-8")
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE_FILE", str(secret_file))
    fake_pulumi.stack("dev-demo")
    run = ociam("preview", "--env", "dev", "--city", "demo", "--engine", "pulumi")
    assert run.exit_code == 0, run.output
    preview = fake_pulumi.commands("preview")[0]
    assert preview["env"]["PULUMI_CONFIG_PASSPHRASE_FILE"] == str(secret_file)
    assert preview["env"]["PULUMI_CONFIG_PASSPHRASE"] is None


# fake: that the CLI is not run at all is only seen by recording its calls
def test_no_passphrase_fails_before_the_cli_runs_anything(
    fake_pulumi: FakePulumi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE")
    run = ociam("preview", "--env", "dev", "--city", "demo", "--engine", "pulumi")
    assert run.exit_code == 1
    assert "set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE" in run.output
    assert not fake_pulumi.commands("stack")


# fake: a prod stack; the real tier deploys dev only (prod's Kubernetes 1.34, ha profile)
def test_up_in_prod_asks_for_the_city_name(fake_pulumi: FakePulumi) -> None:
    fake_pulumi.stack("prod-pori")
    refused = ociam("up", "--env", "prod", "--city", "pori", "--engine", "pulumi", stdin="porvoo\n")
    assert refused.exit_code == 2
    assert "type 'pori'" in refused.output and "nothing was changed" in refused.output
    no_input = ociam("up", "--env", "prod", "--city", "pori", "--engine", "pulumi", stdin="")
    assert no_input.exit_code == 2
    assert "or pass --yes in CI" in no_input.output
    assert not fake_pulumi.commands("stack")  # not even selected

    typed = ociam("up", "--env", "prod", "--city", "pori", "--engine", "pulumi", stdin="pori\n")
    assert typed.exit_code == 0, typed.output
    up = _args(fake_pulumi.commands("up")[0])
    assert up[:3] == ["up", "--yes", "--skip-preview"]
    assert up[up.index("--stack") + 1] == "prod-pori"
    history = _args(fake_pulumi.commands("stack", "history")[0])
    assert "--show-secrets" not in history


# fake: secret stack outputs; the city programs export none
def test_up_with_yes_skips_the_question_and_hides_secret_outputs(fake_pulumi: FakePulumi) -> None:
    fake_pulumi.stack("prod-pori")
    run = ociam(
        "up", "--env", "prod", "--city", "pori", "--engine", "pulumi", "--yes", "-o", "json"
    )
    assert run.exit_code == 0, run.output
    assert "s3cr3t-output" not in run.output
    assert json.loads(run.stdout)["stacks"][0]["status"] == "ok"


# fake (also real in tests/cluster): the argv of `stack export` (no --show-secrets) and
# of `state unprotect`
def test_destroy_refuses_a_protected_database_unless_told(fake_pulumi: FakePulumi) -> None:
    steps = [
        {"op": "create", "type": CLUSTER, "name": "database-cluster"},
        {"op": "create", "type": "kubernetes:core/v1:Namespace", "name": "namespace-ns"},
    ]
    fake_pulumi.stack("staging-pori", steps=steps, protect=["database-cluster"])
    assert ociam("up", "--env", "staging", "--city", "pori", "--engine", "pulumi").exit_code == 0

    refused = ociam("destroy", "--env", "staging", "--city", "pori", "--engine", "pulumi")
    assert refused.exit_code == 1
    assert "REFUSED" in refused.stdout and "database-cluster" in refused.stdout
    assert "--delete-protected" in refused.stdout
    assert not fake_pulumi.commands("destroy")
    export = _args(fake_pulumi.commands("stack", "export")[0])
    assert "--show-secrets" not in export

    told = ociam(
        "destroy", "--env", "staging", "--city", "pori", "--engine", "pulumi", "--delete-protected"
    )
    assert told.exit_code == 0, told.output
    unprotect = _args(fake_pulumi.commands("state", "unprotect")[0])
    assert unprotect == ["state", "unprotect", "--all", "--yes", "--stack", "staging-pori"]
    assert len(fake_pulumi.commands("destroy")) == 1
    assert "2 to delete" in told.stdout


# fake: the order is asserted by the start and end times the fake records of each call
def test_platform_goes_first_and_cities_wait_for_it(fake_pulumi: FakePulumi) -> None:
    fake_pulumi.stack("staging", sleep=0.5)
    for city in ("pori", "porvoo"):
        fake_pulumi.stack(f"staging-{city}")
    run = ociam(
        "up",
        "--env",
        "staging",
        "--platform",
        "--city",
        "pori",
        "--engine",
        "pulumi",
        "--jobs",
        "4",
    )
    assert run.exit_code == 0, run.output
    ups = fake_pulumi.commands("up")
    by_stack = {_args(c)[_args(c).index("--stack") + 1]: c for c in ups}
    assert set(by_stack) == {"staging", "staging-pori"}
    assert by_stack["staging"]["cwd"] == str(PROJECT_ROOT / "stacks" / "platform")
    assert by_stack["staging"]["end"] <= by_stack["staging-pori"]["start"]
    assert "platform/staging" in run.stdout


# fake: an older CLI version; the toolchain builds one version only
def test_an_older_cli_gets_a_file_event_log(
    fake_pulumi: FakePulumi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_PULUMI_VERSION", "v3.201.0")
    fake_pulumi.stack("dev-demo", steps=DB_REPLACED)
    run = ociam("preview", "--env", "dev", "--city", "demo", "--engine", "pulumi")
    assert run.exit_code == 0, run.output
    args = _args(fake_pulumi.commands("preview")[0])
    assert args[args.index("--event-log") + 1].endswith("eventlog.txt")
    assert "1 to replace" in run.stdout


# fake: a CLI too old to use (one version is built, tools/toolchain.toml)
def test_a_too_old_cli_is_refused(fake_pulumi: FakePulumi, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_PULUMI_VERSION", "v3.150.0")
    run = ociam("preview", "--env", "dev", "--city", "demo", "--engine", "pulumi")
    assert run.exit_code == 1
    assert "3.200.0" in run.output
    assert not fake_pulumi.commands("preview")


def test_a_resource_error_survives_a_long_traceback_after_it() -> None:
    # seen for real: the engine stops a program after a failed Helm release, and the
    # program's asyncio traceback then filled the tail the error message keeps
    from ociam.engines.pulumi_engine import PulumiEngine

    stdout = [
        "    kubernetes:helm.sh/v3:Release gateway-crds  error: chart fetch failed: no such host",
        *[f'  File "/x/asyncio/base_events.py", line {n}, in run_once' for n in range(60)],
    ]
    text = "code: 255\n stdout: " + "\n".join(stdout) + "\n stderr: error: update failed\n"
    message = PulumiEngine(PROJECT_ROOT, environ={})._cli_error(text)
    lines = message.splitlines()
    assert lines[0] == "error: update failed"
    assert "gateway-crds  error: chart fetch failed" in lines[1]
    assert len(lines) <= 27
