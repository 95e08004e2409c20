"""Test helpers: run the CLI in-process and snapshot a checkout."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Cli:
    """Runs the ``ociam`` typer app in-process against a given checkout."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> CliResult:
        from ociam.app import app

        environment = {"OCIAM_ROOT": str(self.root), "OCIAM_ENV": "", **(env or {})}
        result = CliRunner().invoke(app, list(args), env=environment, catch_exceptions=False)
        return CliResult(result.exit_code, result.stdout, result.stderr)


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file below ``root`` with its content, to prove nothing was written."""
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }
