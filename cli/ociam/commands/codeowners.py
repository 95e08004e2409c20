"""``ociam codeowners``: write .github/CODEOWNERS from the catalog's ``owners``."""

from __future__ import annotations

from typing import Annotated

import typer

from ociam.console import EXIT_FAILURE, EXIT_OK, error, info, print_json
from ociam.options import OutputOption, RootOption, resolve


def codeowners(
    ctx: typer.Context,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Write nothing; exit 1 when .github/CODEOWNERS differs from the catalog (CI)",
        ),
    ] = False,
    stdout: Annotated[
        bool, typer.Option("--stdout", help="Print the file instead of writing it")
    ] = False,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Generate .github/CODEOWNERS from `owners:` in the catalog of every environment.

    A city file is owned by the city's `owners` (its IAM admins), or by its
    environment's when it names none; all.yml, hosts.yml, new city files and
    everything else (stacks/, cli/, roles/, workflows) by the platform team,
    the `owners` of each environment's all.yml. With branch protection's
    "require review from code owners", a pull request that changes pori.yml
    then needs Pori's approval, and one that changes all.yml or program code
    the platform team's.
    """
    from dataclasses import replace

    from ociam.catalog import ENVIRONMENTS
    from ociam.codeowners import CODEOWNERS_PATH, render, unowned
    from ociam.commands.common import load_catalog
    from ociam.fileio import write_text_atomic

    invocation = resolve(ctx, None, output, root)
    catalogs = [load_catalog(replace(invocation, env=name)) for name in ENVIRONMENTS]
    text = render(invocation.root, catalogs)
    target = invocation.root / CODEOWNERS_PATH
    try:
        current = target.read_text(encoding="utf-8") if target.is_file() else None
    except OSError as exc:
        error(f"cannot read {CODEOWNERS_PATH}: {exc.strerror or exc}")
        raise typer.Exit(EXIT_FAILURE) from None
    up_to_date = current == text
    for name in unowned(catalogs):
        info(f"warning: {name}: no owners in group_vars/all.yml; those files need no approval")
    if stdout:
        typer.echo(text, nl=False)
        raise typer.Exit(EXIT_OK)
    if not check and not up_to_date:
        try:
            write_text_atomic(target, text)
        except OSError as exc:
            error(f"cannot write {CODEOWNERS_PATH}: {exc.strerror or exc} (nothing written)")
            raise typer.Exit(EXIT_FAILURE) from None
    if invocation.json:
        written = not check and not up_to_date
        print_json({"file": str(CODEOWNERS_PATH), "up_to_date": up_to_date, "written": written})
    elif check:
        message = (
            f"{CODEOWNERS_PATH} is up to date"
            if up_to_date
            else f"{CODEOWNERS_PATH} is out of date: run `ociam codeowners` and commit it"
        )
        typer.echo(message, err=not up_to_date)
    else:
        typer.echo(f"{CODEOWNERS_PATH} is up to date" if up_to_date else f"wrote {CODEOWNERS_PATH}")
    if check and not up_to_date:
        raise typer.Exit(EXIT_FAILURE)
