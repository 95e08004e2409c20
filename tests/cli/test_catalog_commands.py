"""CLI behaviour of the catalog commands: show, schema, new-city, root discovery, start-up."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from ociam import __version__
from ociam.catalog import load_environment
from tests.support import Cli, snapshot

NEW_CITY = [
    "new-city",
    "lahti",
    "--name",
    "Lahti",
    "--name-sv",
    "Lahtis",
    "--domain",
    "lahti.fi",
    "--code",
    "398",
    "--admin-cidr",
    "198.51.100.240/29",
]


def test_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"ociam {__version__}"


def test_show_merges_defaults_and_redacts_secret_references(cli: Cli) -> None:
    result = cli("show", "demo", "--output", "json")
    assert result.exit_code == 0, result.output
    shown = json.loads(result.stdout)
    assert shown["ociam_env"] == "dev"
    assert shown["hostnames"] == {
        "public": "demo.iam-dev.hameenlinna.fi",
        "admin": "demo-admin.iam-dev.hameenlinna.fi",
    }
    assert shown["ldap"]["bind_password"] == "<secret: pulumi config ociam:ldapBindPassword>"
    assert shown["derived"]["ldap_url"] == "ldaps://ad.demo.example:636"
    assert shown["derived"]["stack"] == "dev-demo"
    assert "pulumi_secret" not in result.stdout


def test_show_table_is_yaml(cli: Cli) -> None:
    result = cli("show", "porvoo", "--env", "prod")
    assert result.exit_code == 0, result.output
    data = yaml.safe_load(result.stdout)
    assert data["city"]["names"] == {"fi": "Porvoo", "sv": "Borgå"}
    assert data["size_profile"] == "ha"


def test_env_from_environment_variable_and_global_option(cli: Cli) -> None:
    by_variable = cli("cities", "--output", "json", env={"OCIAM_ENV": "staging"})
    assert json.loads(by_variable.stdout)["env"] == "staging"
    global_option = cli("--env", "prod", "cities", "--output", "json")
    assert json.loads(global_option.stdout)["env"] == "prod"
    command_wins = cli("--env", "prod", "cities", "--env", "staging", "--output", "json")
    assert json.loads(command_wins.stdout)["env"] == "staging"


def test_schema_matches_committed_copy_and_accepts_every_seed_city(
    cli: Cli, project_root: Path
) -> None:
    for flag, name, pattern in (
        ([], "city", "*/group_vars/[!a]*.yml"),
        (["--environment"], "environment", "*/group_vars/all.yml"),
    ):
        result = cli("schema", *flag)
        assert result.exit_code == 0
        schema = json.loads(result.stdout)
        committed = json.loads((project_root / "schemas" / f"{name}.schema.json").read_text())
        assert schema == committed, (
            f"schemas/{name}.schema.json is stale: regenerate it with "
            f"`ociam schema {' '.join(flag)} > schemas/{name}.schema.json`"
        )
        validator = jsonschema.Draft202012Validator(schema)
        files = sorted((project_root / "inventories").glob(pattern))
        assert files
        for path in files:
            errors = list(validator.iter_errors(yaml.safe_load(path.read_text(encoding="utf-8"))))
            assert not errors, f"{path}: {errors[0].message}"


def test_schema_rejects_unknown_keys_like_the_model(cli: Cli) -> None:
    schema = json.loads(cli("schema").stdout)
    city = {"city": {"slug": "x", "colour": "red"}}
    messages = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(city)]
    assert any("colour" in m for m in messages)


def test_new_city_scaffolds_a_valid_city(project_copy: Path, copy_cli: Cli) -> None:
    result = copy_cli(
        *NEW_CITY, "--env", "staging", "--connector-host", "iam-connector-staging.lahti.fi"
    )
    assert result.exit_code == 0, result.output
    city_file = project_copy / "inventories/staging/group_vars/lahti.yml"
    assert city_file.exists()
    assert copy_cli("validate", "--env", "staging", "--city", "lahti").exit_code == 0
    config = load_environment(project_copy, "staging").city("lahti")
    assert config.spec.city.official_languages == ["fi", "sv"]
    assert config.inventory_hosts == ("iam-connector-staging.lahti.fi",)
    taken = {
        str(c.spec.connector.tunnel_address)
        for c in load_environment(project_copy, "staging").cities.values()
        if c.slug != "lahti" and c.spec.connector
    }
    assert str(config.spec.connector.tunnel_address) not in taken
    assert (
        "# add this city's connector host"
        not in (project_copy / "inventories/staging/hosts.yml").read_text()
    )


def test_new_city_without_host_leaves_an_empty_group(project_copy: Path, copy_cli: Cli) -> None:
    assert copy_cli(*NEW_CITY, "--env", "dev").exit_code == 0
    hosts = yaml.safe_load((project_copy / "inventories/dev/hosts.yml").read_text())
    assert hosts["all"]["children"]["cities"]["children"]["lahti"] == {"hosts": {}}
    assert copy_cli("validate", "--env", "dev").exit_code == 0


def test_new_city_refuses_to_overwrite(project_copy: Path, copy_cli: Cli) -> None:
    before = snapshot(project_copy)
    result = copy_cli(
        "new-city",
        "pori",
        "--name",
        "Pori",
        "--domain",
        "pori.fi",
        "--code",
        "609",
        "--admin-cidr",
        "198.51.100.0/28",
        "--env",
        "prod",
    )
    assert result.exit_code == 2
    assert (
        "inventories/prod/group_vars/pori.yml: already exists; new-city never overwrites"
        in result.stderr
    )
    assert snapshot(project_copy) == before


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--code", "39"], "city.municipality_code"),
        (["--admin-cidr", "198.51.100.241/29"], "has host bits set"),
        (["--domain", "Lahti"], "not a fully qualified lower-case DNS name"),
        (["--code", "609"], "municipality code '609' is also used by pori"),
        (["--domain", "pori.fi"], "hostname 'tunnistus.pori.fi' is also used by pori"),
    ],
)
def test_new_city_bad_input_writes_nothing(
    project_copy: Path, copy_cli: Cli, args: list[str], expected: str
) -> None:
    command = list(NEW_CITY)
    for flag, value in zip(args[::2], args[1::2], strict=True):
        command[command.index(flag) + 1] = value
    before = snapshot(project_copy)
    result = copy_cli(*command, "--env", "prod")
    assert result.exit_code == 2
    assert expected in result.stderr
    assert "new-city: nothing written" in result.stderr
    assert snapshot(project_copy) == before


def test_new_city_bad_slug_names_the_field(project_copy: Path, copy_cli: Cli) -> None:
    command = list(NEW_CITY)
    command[1] = "Lahti-City"
    result = copy_cli(*command)
    assert result.exit_code == 2
    assert "city.slug: 'Lahti-City' does not match the required format" in result.stderr


def test_new_city_dry_run_writes_nothing(project_copy: Path, copy_cli: Cli) -> None:
    before = snapshot(project_copy)
    result = copy_cli(*NEW_CITY, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "--- inventories/dev/group_vars/lahti.yml" in result.stdout
    assert snapshot(project_copy) == before


def test_missing_required_option_is_usage_error(cli: Cli) -> None:
    result = cli("new-city", "lahti", "--name", "Lahti")
    assert result.exit_code == 2
    assert "Missing option" in result.output


def test_root_is_found_from_a_subdirectory(project_root: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OCIAM_ROOT", "OCIAM_ENV")}
    result = subprocess.run(
        [sys.executable, "-m", "ociam", "cities", "--output", "json"],
        cwd=project_root / "inventories" / "prod",
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["env"] == "dev"


def test_root_option_and_variable(project_copy: Path, tmp_path: Path) -> None:
    (project_copy / "inventories/dev/group_vars/demo.yml").unlink()
    hosts = project_copy / "inventories/dev/hosts.yml"
    text = hosts.read_text()
    hosts.write_text(
        text.replace(
            "        demo:\n          hosts:\n            iam-connector-dev.demo.example:\n", ""
        )
    )
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("OCIAM_ROOT", "OCIAM_ENV")}
    for extra_args, extra_env in (
        (["--root", str(project_copy)], {}),
        ([], {"OCIAM_ROOT": str(project_copy)}),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "ociam", *extra_args, "cities", "--output", "json"],
            cwd=outside,
            env={**env, **extra_env},
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert "demo" not in [c["slug"] for c in json.loads(result.stdout)["cities"]]


def test_bad_root_is_bad_input(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("OCIAM_ROOT", "OCIAM_ENV")}
    result = subprocess.run(
        [sys.executable, "-m", "ociam", "--root", str(tmp_path), "cities"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert f"--root {tmp_path} is not an ociam checkout" in result.stderr


def test_help_does_not_import_heavy_modules() -> None:
    probe = (
        "import sys\nfrom ociam.app import app\nfrom typer.main import get_command\n"
        "get_command(app)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'pulumi', 'pulumi_kubernetes', 'pydantic', 'ansible', 'yaml', 'jsonschema'}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
    help_text = subprocess.run(
        [sys.executable, "-m", "ociam", "--help"], capture_output=True, text=True, check=True
    ).stdout
    for command in ("cities", "show", "validate", "schema", "new-city"):
        assert command in help_text


def test_shell_completion_is_offered(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    # typer finds the shell in the process tree (shellingham), as when a person types the
    # command; a test process started without a shell above it (a detached job) has none
    monkeypatch.setattr("typer.completion._get_shell_name", lambda: "bash")
    result = cli("--show-completion", env={"SHELL": "/bin/bash"})
    assert result.exit_code == 0
    assert "_OCIAM_COMPLETE" in result.stdout
