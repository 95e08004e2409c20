"""Options every command accepts, before or after the command name.

``ociam --env prod validate`` and ``ociam validate --env prod`` mean the same;
the value given after the command wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from ociam.console import OutputFormat


class Environment(StrEnum):
    dev = "dev"
    staging = "staging"
    prod = "prod"


ENV_HELP = "Environment: dev, staging or prod [env var: OCIAM_ENV; default: dev]"

EnvOption = Annotated[
    Environment | None,
    typer.Option("--env", "-e", help=ENV_HELP, show_default=False, case_sensitive=False),
]
OutputOption = Annotated[
    OutputFormat | None,
    typer.Option(
        "--output",
        "-o",
        help="table for people, json for machines [default: table]",
        show_default=False,
        case_sensitive=False,
    ),
]
RootOption = Annotated[
    Path | None,
    typer.Option(
        "--root",
        help="The ociam checkout [env var: OCIAM_ROOT; default: found from the current directory]",
        show_default=False,
        file_okay=False,
    ),
]
CityOption = Annotated[
    str | None,
    typer.Option("--city", "-c", help="One city (its slug, e.g. pori)", show_default=False),
]


@dataclass(frozen=True)
class GlobalOptions:
    env: str
    output: OutputFormat
    root: Path | None


@dataclass(frozen=True)
class Invocation:
    """The resolved options of one command run."""

    env: str
    output: OutputFormat
    root: Path

    @property
    def json(self) -> bool:
        return self.output is OutputFormat.JSON


def resolve(
    ctx: typer.Context, env: Environment | None, output: OutputFormat | None, root: Path | None
) -> Invocation:
    """Merge command-level options over the global ones and find the checkout.

    Exits 2 with a clear message when no checkout can be found.
    """
    from ociam.console import EXIT_BAD_INPUT, error
    from ociam.project import ProjectNotFoundError, find_project_root

    defaults = ctx.find_object(GlobalOptions) or GlobalOptions("dev", OutputFormat.TABLE, None)
    try:
        project = find_project_root(root or defaults.root)
    except ProjectNotFoundError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    return Invocation(
        env=env.value if env else defaults.env, output=output or defaults.output, root=project
    )
