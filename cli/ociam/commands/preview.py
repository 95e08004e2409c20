"""``ociam preview``: what a city stack would create, and how it differs from a render."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from ociam.commands.render import AllOption, render_all, selected_cities
from ociam.console import EXIT_OK, print_json, print_table
from ociam.options import CityOption, EnvOption, OutputOption, RootOption, resolve


class EngineName(StrEnum):
    offline = "offline"


def preview(
    ctx: typer.Context,
    city: CityOption = None,
    all_cities: AllOption = False,
    engine: Annotated[
        EngineName,
        typer.Option(
            "--engine",
            help="offline: the program under Pulumi mocks (no CLI, cluster or credentials)",
            case_sensitive=False,
        ),
    ] = EngineName.offline,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            exists=True,
            file_okay=False,
            help="A previous render directory (as written by `ociam render --out`) to diff with",
        ),
    ] = None,
    names: Annotated[
        bool, typer.Option("--names/--no-names", help="List each object's name")
    ] = True,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Show what a city stack would create: objects by kind with their names.

    With --against DIR, also the difference to that earlier render (objects
    added, removed and changed, as a unified diff). Exit code 0 either way.
    """
    from ociam.render.output import city_dir, diff_render, read_render

    invocation = resolve(ctx, env, output, root)
    rendered = render_all(invocation, selected_cities(invocation, city, all_cities))
    report: list[dict[str, Any]] = []
    for item in rendered:
        kinds = item.kinds()
        entry: dict[str, Any] = {
            "stack": item.stack.name,
            "engine": engine.value,
            "steps": item.result.counts,
            "kinds": {kind: len(ids) for kind, ids in kinds.items()},
            "objects": [i for ids in kinds.values() for i in ids],
            "components": sorted(s.type for s in item.result.steps if s.type.startswith("ociam:")),
        }
        diff = None
        if against is not None:
            previous = read_render(city_dir(against, item.stack.env, item.stack.city))
            diff = diff_render(previous, item.files, item.stack.name)
            entry["diff"] = {
                "added": list(diff.added),
                "removed": list(diff.removed),
                "changed": list(diff.changed),
                "text": diff.text,
            }
        report.append(entry)
        if invocation.json:
            continue
        total = sum(entry["kinds"].values())
        typer.echo(
            f"{item.stack.name} ({engine.value} engine): {total} Kubernetes objects to create, "
            f"{len(item.result.steps)} resources in all"
        )
        print_table(
            ["KIND", "COUNT", "NAMES"] if names else ["KIND", "COUNT"],
            [
                [kind, len(ids), ", ".join(i.rsplit("/", 1)[-1] for i in ids)][: 3 if names else 2]
                for kind, ids in kinds.items()
            ],
        )
        if diff is not None:
            typer.echo(
                f"against {against}: {len(diff.added)} added, {len(diff.removed)} removed, "
                f"{len(diff.changed)} changed"
            )
            if diff.text:
                typer.echo(diff.text, nl=False)
        typer.echo("")
    if invocation.json:
        print_json({"stacks": report})
    raise typer.Exit(EXIT_OK)
