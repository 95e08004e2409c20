"""A fake ``pulumi`` CLI on PATH, with its log, scenario and state in a temp directory."""

from __future__ import annotations

import json
import os
import secrets
import stat
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from ociam.catalog import ENVIRONMENTS, load_environment
from tests.support import CliResult

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[1]


@dataclass
class FakePulumi:
    """The fake CLI's files: what it was asked (``calls``) and how it behaves (``scenario``)."""

    home: Path
    passphrase: str
    backend: Path
    scenario: dict[str, Any] = field(default_factory=lambda: {"stacks": {}})

    @property
    def log(self) -> Path:
        return self.home / "calls.jsonl"

    @property
    def scenario_file(self) -> Path:
        return self.home / "scenario.json"

    def stack(self, name: str, **settings: Any) -> None:
        """Set how the fake answers for one stack (steps, fail, sleep, protect, config)."""
        current = self.scenario["stacks"].setdefault(name, {"config": _config_keys(name)})
        current.update(settings)
        self.write()

    def write(self) -> None:
        self.scenario_file.write_text(json.dumps(self.scenario), encoding="utf-8")

    def calls(self) -> list[dict[str, Any]]:
        if not self.log.is_file():
            return []
        return [json.loads(line) for line in self.log.read_text(encoding="utf-8").splitlines()]

    def commands(self, *first: str) -> list[dict[str, Any]]:
        """Calls whose arguments (without --non-interactive) start with ``first``."""
        found = []
        for call in self.calls():
            args = [a for a in call["argv"] if a != "--non-interactive"]
            if args[: len(first)] == list(first):
                found.append(call)
        return found


def _config_keys(stack: str) -> list[str]:
    """The secret config a city stack needs, as if set with `pulumi config set --secret`."""
    env, _, city = stack.partition("-")
    if env not in ENVIRONMENTS or not city:
        return []
    return [f"ociam:{key}" for key in load_environment(PROJECT_ROOT, env).city(city).secret_keys]


@pytest.fixture
def fake_pulumi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePulumi]:
    home = tmp_path / "fake-pulumi"
    bin_dir = home / "bin"
    bin_dir.mkdir(parents=True)
    script = bin_dir / "pulumi"
    script.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "from fake_pulumi import main\n"
        "sys.exit(main(sys.argv[1:]))\n",
        encoding="utf-8",
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    fake = FakePulumi(
        home=home, passphrase=f"pass-{secrets.token_hex(8)}", backend=tmp_path / "state"
    )
    fake.write()
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.setenv("FAKE_PULUMI_LOG", str(fake.log))
    monkeypatch.setenv("FAKE_PULUMI_SCENARIO", str(fake.scenario_file))
    monkeypatch.setenv("FAKE_PULUMI_STATE", str(home / "state"))
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", fake.passphrase)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.setenv("OCIAM_PULUMI_BACKEND_URL", f"file://{fake.backend}")
    monkeypatch.delenv("PULUMI_ACCESS_TOKEN", raising=False)
    yield fake


def ociam(*args: str, root: Path = PROJECT_ROOT, stdin: str | None = None) -> CliResult:
    """Run the CLI in-process (the environment is the test's, as monkeypatched)."""
    from typer.testing import CliRunner

    from ociam.app import app

    result = CliRunner().invoke(
        app,
        list(args),
        input=stdin,
        env={"OCIAM_ROOT": str(root), "OCIAM_ENV": ""},
        catch_exceptions=False,
    )
    return CliResult(result.exit_code, result.stdout, result.stderr)
