"""Backend and passphrase settings, engine choice, and the offline side of the commands."""

from __future__ import annotations

from pathlib import Path

import pytest

from ociam.engines.base import EngineError, StackRef
from ociam.engines.pulumi_engine import (
    check_passphrase,
    redact_pulumi,
    resolve_backend,
    scrub,
)
from tests.engines.conftest import FakePulumi, ociam


def test_the_environment_variable_overrides_the_catalog_backend(tmp_path: Path) -> None:
    environ = {"OCIAM_PULUMI_BACKEND_URL": "s3://state-bucket/ociam?region=eu-north-1"}
    assert resolve_backend("file://~/x", tmp_path, environ) == environ["OCIAM_PULUMI_BACKEND_URL"]
    assert (
        resolve_backend("file://~/x", tmp_path, {"PULUMI_BACKEND_URL": "azblob://state"})
        == "azblob://state"
    )


def test_a_file_backend_is_made_absolute_and_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    url = resolve_backend("file://~/.ociam/pulumi-state", tmp_path, {})
    assert url == f"file://{tmp_path}/home/.ociam/pulumi-state"
    assert (tmp_path / "home" / ".ociam" / "pulumi-state").is_dir()
    relative = resolve_backend("file://state/here", tmp_path, {})
    assert relative == f"file://{tmp_path}/state/here"


def test_object_store_backends_pass_through_untouched(tmp_path: Path) -> None:
    for url in ("s3://b/p", "gs://b", "azblob://c", "https://api.pulumi.com"):
        assert resolve_backend(url, tmp_path, {}) == url
    assert not any(tmp_path.iterdir())


def test_the_passphrase_must_be_set_one_way_or_the_other(tmp_path: Path) -> None:
    check_passphrase({"PULUMI_CONFIG_PASSPHRASE": "x"})
    file = tmp_path / "pass"
    file.write_text("p\n", encoding="utf-8")
    check_passphrase({"PULUMI_CONFIG_PASSPHRASE_FILE": str(file)})
    with pytest.raises(EngineError, match="does not exist"):
        check_passphrase({"PULUMI_CONFIG_PASSPHRASE_FILE": str(tmp_path / "missing")})
    with pytest.raises(EngineError, match="set PULUMI_CONFIG_PASSPHRASE or"):
        check_passphrase({})


def test_secret_markers_and_known_values_are_replaced() -> None:
    value = {
        "a": "[secret]",
        "b": {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270"},
        "c": ["plain", "[secret]"],
    }
    assert redact_pulumi(value) == {"a": "<secret>", "b": "<secret>", "c": ["plain", "<secret>"]}
    assert scrub("token hunter22 here", ["hunter22"]) == "token <secret> here"


def test_stack_names_of_both_projects() -> None:
    assert StackRef("prod", "pori").name == "prod-pori"
    platform = StackRef.platform("prod")
    assert (platform.name, platform.label, platform.project) == (
        "prod",
        "platform/prod",
        "platform",
    )
    assert StackRef.parse("platform/prod") == platform
    assert StackRef.parse("prod-pori") == StackRef("prod", "pori")
    with pytest.raises(ValueError, match="names none"):
        StackRef("prod", "pori", "platform")


def test_auto_falls_back_to_offline_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no pulumi here
    run = ociam("preview", "--env", "dev", "--city", "demo", "--no-names")
    assert run.exit_code == 0, run.output
    notes = [line for line in run.stderr.splitlines() if "offline" in line]
    assert notes == [
        "engine: no Pulumi CLI on PATH, using the offline engine (no state, no cluster)"
    ]
    assert run.stdout.startswith("dev-demo (offline engine): ")


@pytest.mark.parametrize("command", ["up", "destroy", "refresh"])
def test_changing_commands_need_the_real_engine(
    command: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    auto = ociam(command, "--env", "dev", "--city", "demo")
    assert auto.exit_code == 2
    assert f"`{command}` needs the Pulumi CLI" in auto.stderr
    offline = ociam(command, "--env", "dev", "--city", "demo", "--engine", "offline")
    assert offline.exit_code == 2
    assert "the offline engine only previews" in offline.stderr


def test_offline_summary_says_there_is_no_state(tmp_path: Path) -> None:
    summary = tmp_path / "s.md"
    run = ociam(
        "preview", "--env", "dev", "--city", "demo", "--platform", "--engine", "offline",
        "--summary-md", str(summary),
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    text = summary.read_text(encoding="utf-8")
    assert "offline engine has no state" in text
    assert "| `platform/dev` | ✅ ok |" in text and "| `dev-demo` | ✅ ok |" in text
    assert "offline-placeholder" not in text and "offline-generated" not in text


# fake: stands in for an installed CLI only; the refusal comes before any CLI call
def test_against_is_offline_only(fake_pulumi: FakePulumi, tmp_path: Path) -> None:
    run = ociam(
        "preview",
        "--env",
        "dev",
        "--city",
        "demo",
        "--engine",
        "pulumi",
        "--against",
        str(tmp_path),
    )
    assert run.exit_code == 2
    assert "--against compares offline renders" in run.stderr
