"""``ociam playbook``: run a project playbook against one environment or one city."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ociam.commands.common import load_catalog, select_city
from ociam.console import EXIT_BAD_INPUT, error, info
from ociam.options import CityOption, EnvOption, RootOption, resolve


def playbook(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="Playbook in playbooks/ without .yml: harden, connector, hub, site",
            show_default=False,
        ),
    ],
    city: CityOption = None,
    check: Annotated[bool, typer.Option("--check", help="Dry run: report, change nothing")] = False,
    diff: Annotated[bool, typer.Option("--diff", help="Show file changes")] = False,
    tags: Annotated[
        list[str] | None,
        typer.Option(
            "--tags", "-t", help="Only these tags (repeat or comma-separate)", show_default=False
        ),
    ] = None,
    skip_tags: Annotated[
        list[str] | None, typer.Option("--skip-tags", help="Skip these tags", show_default=False)
    ] = None,
    limit: Annotated[
        str | None,
        typer.Option(
            "--limit",
            "-l",
            help="Further limit hosts (intersected with --city)",
            show_default=False,
        ),
    ] = None,
    vault_password_file: Annotated[
        Path | None,
        typer.Option(
            "--vault-password-file",
            help="Passed to ansible-playbook; ANSIBLE_VAULT_PASSWORD_FILE also works",
            show_default=False,
            dir_okay=False,
        ),
    ] = None,
    extra: Annotated[
        list[str] | None,
        typer.Argument(
            help="More ansible-playbook arguments, after --  (e.g. -- -e var=value -vv)",
            show_default=False,
        ),
    ] = None,
    env: EnvOption = None,
    root: RootOption = None,
) -> None:
    """Run playbooks/NAME.yml with the environment's inventory, limited to a city.

    Output streams as ansible-playbook prints it; the exit code is ansible's.
    The catalog is validated first: nothing runs on a broken catalog.
    """
    from ociam.ansible_runner import PlaybookError, PlaybookRun, run_playbook

    invocation = resolve(ctx, env, None, root)
    catalog = load_catalog(invocation)
    if city is not None and not select_city(invocation, catalog, city).inventory_hosts:
        error(f"city '{city}' has no connector hosts in inventories/{invocation.env}/hosts.yml")
        raise typer.Exit(EXIT_BAD_INPUT)
    run = PlaybookRun(
        root=invocation.root,
        env=invocation.env,
        playbook=name,
        city=city,
        limit=limit,
        check=check,
        diff=diff,
        tags=_split(tags),
        skip_tags=_split(skip_tags),
        vault_password_file=vault_password_file,
        extra_args=tuple(extra or ()),
    )
    try:
        code = run_playbook(run)
    except PlaybookError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if code != 0:
        info(f"ansible-playbook exited with {code}")
    raise typer.Exit(code)


def _split(values: list[str] | None) -> list[str]:
    return [part.strip() for value in values or [] for part in value.split(",") if part.strip()]
