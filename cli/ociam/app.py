"""The ``ociam`` command line. Start-up imports typer only; commands import the rest."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ociam import __version__
from ociam.commands import apps as apps_commands
from ociam.commands import backup as backup_commands
from ociam.commands import catalog as catalog_commands
from ociam.commands import codeowners as codeowners_commands
from ociam.commands import deploy as deploy_commands
from ociam.commands import doctor as doctor_commands
from ociam.commands import playbook as playbook_commands
from ociam.commands import preview as preview_commands
from ociam.commands import render as render_commands
from ociam.commands import report as report_commands
from ociam.commands import scaffold as scaffold_commands
from ociam.commands import suomifi as suomifi_commands
from ociam.console import OutputFormat
from ociam.options import Environment, GlobalOptions

HELP = """\
Deployment automation for the consortium's shared Keycloak IAM.

One catalog file per city (inventories/<env>/group_vars/<city>.yml) drives the
city's Kubernetes stack (Pulumi) and its on-prem connector hosts (Ansible).

Exit codes: 0 ok, 1 failure, 2 bad input (catalog, flags, missing prerequisite).
"""


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"ociam {__version__}")
        raise typer.Exit()


app = typer.Typer(
    name="ociam",
    help=HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)


@app.callback()
def main_options(
    ctx: typer.Context,
    env: Annotated[
        Environment,
        typer.Option(
            "--env",
            "-e",
            envvar="OCIAM_ENV",
            help="Environment the commands act on",
            case_sensitive=False,
        ),
    ] = Environment.dev,
    output: Annotated[
        OutputFormat,
        typer.Option(
            "--output", "-o", help="table for people, json for machines", case_sensitive=False
        ),
    ] = OutputFormat.TABLE,
    root: Annotated[
        Path | None,
        typer.Option(
            "--root",
            envvar="OCIAM_ROOT",
            file_okay=False,
            help="The ociam checkout [default: found from the current directory]",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit"
        ),
    ] = False,
) -> None:
    ctx.obj = GlobalOptions(env=env.value, output=output, root=root)


app.command("cities")(catalog_commands.cities)
app.command("show")(catalog_commands.show)
app.command("validate")(catalog_commands.validate)
app.command("schema")(catalog_commands.schema)
app.command("new-city")(scaffold_commands.new_city)
app.command("playbook")(playbook_commands.playbook)
app.command("doctor")(doctor_commands.doctor)
app.command("render")(render_commands.render)
app.command("preview")(preview_commands.preview)
app.command("up")(deploy_commands.up)
app.command("destroy")(deploy_commands.destroy)
app.command("refresh")(deploy_commands.refresh)
app.command("backup")(backup_commands.backup)
app.command("restore-drill")(backup_commands.restore_drill)
app.command("report")(report_commands.report)
app.add_typer(apps_commands.group, name="app")
app.command("codeowners")(codeowners_commands.codeowners)
app.command("suomifi-metadata")(suomifi_commands.suomifi_metadata)


def main() -> None:
    app()
