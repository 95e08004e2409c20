"""``ociam render``: plain manifests (and realm files) per city from the offline engine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ociam.commands.common import load_catalog, select_city
from ociam.console import EXIT_BAD_INPUT, EXIT_FAILURE, error, print_json, print_table
from ociam.options import CityOption, EnvOption, OutputOption, RootOption, resolve

if TYPE_CHECKING:
    from ociam.catalog import CityConfig
    from ociam.options import Invocation
    from ociam.render.service import RenderedCity

AllOption = Annotated[bool, typer.Option("--all", help="Every city of the environment")]


def selected_cities(invocation: Invocation, city: str | None, all_cities: bool) -> list[CityConfig]:
    """The cities a command acts on: one (--city) or all (--all); exit 2 otherwise."""
    if (city is None) == (not all_cities):
        error("give --city CITY or --all (not both)")
        raise typer.Exit(EXIT_BAD_INPUT)
    catalog = load_catalog(invocation)
    if city is not None:
        return [select_city(invocation, catalog, city)]
    return list(catalog.cities.values())


def render_all(invocation: Invocation, cities: list[CityConfig]) -> list[RenderedCity]:
    """Render each city with the offline engine; exit 1 naming the city on failure."""
    from ociam.engines.base import EngineError
    from ociam.engines.offline import OfflineEngine
    from ociam.render.service import render_city

    try:
        engine = OfflineEngine(invocation.root)
        return [render_city(engine, city) for city in cities]
    except EngineError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_FAILURE) from None


def render(
    ctx: typer.Context,
    city: CityOption = None,
    all_cities: AllOption = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            file_okay=False,
            help="Render directory; <out>/<env>/<city>/manifests.yaml [default: <root>/rendered]",
        ),
    ] = None,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Render a city's Kubernetes manifests offline (no cluster, CLI or credentials).

    Runs the city's Pulumi program under mocks and writes one deterministic
    YAML stream per city, plus the files the program publishes (realm JSON).
    Secret values never appear: they are rendered as <secret>.
    """
    from ociam.render.output import city_dir, write_render

    invocation = resolve(ctx, env, output, root)
    rendered = render_all(invocation, selected_cities(invocation, city, all_cities))
    target = (out or invocation.root / "rendered").resolve()
    rows: list[dict[str, Any]] = []
    for item in rendered:
        directory = city_dir(target, item.stack.env, item.stack.city)
        write_render(item.files, directory)
        rows.append(
            {
                "stack": item.stack.name,
                "directory": str(directory),
                "objects": len(item.objects),
                "files": sorted(item.files),
            }
        )
    if invocation.json:
        print_json({"out": str(target), "stacks": rows})
        return
    print_table(
        ["STACK", "OBJECTS", "FILES", "DIRECTORY"],
        [[r["stack"], r["objects"], len(r["files"]), r["directory"]] for r in rows],
    )
