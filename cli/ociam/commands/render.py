"""``ociam render``: plain manifests (and realm files) per city from the offline engine."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ociam.commands.common import exit_when_unwritable, load_catalog, select_city
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


def _render_platform(invocation: Invocation, target: Path) -> dict[str, Any]:
    """Render and write the environment's platform stack; exit 1 on failure."""
    from ociam.engines.base import EngineError
    from ociam.engines.offline import OfflineEngine
    from ociam.render.output import write_render
    from ociam.render.platform import platform_dir, render_platform

    try:
        item = render_platform(OfflineEngine(invocation.root), invocation.root, invocation.env)
    except (EngineError, ValueError) as exc:
        error(str(exc))
        raise typer.Exit(EXIT_FAILURE) from None
    directory = platform_dir(target, invocation.env)
    with exit_when_unwritable("the render", directory):
        write_render(item.files, directory)
    return {
        "stack": item.stack.label,
        "directory": str(directory),
        "objects": len(item.objects),
        "releases": len(item.releases),
        "files": sorted(item.files),
    }


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
    platform: Annotated[
        bool,
        typer.Option(
            "--platform",
            help="Also (or only) the environment's platform stack: <out>/platform/<env>/",
        ),
    ] = False,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Render a city's Kubernetes manifests offline (no cluster, CLI or credentials).

    Runs the city's Pulumi program under mocks and writes one deterministic
    YAML stream per city, plus the files the program publishes (realm JSON).
    Secret values never appear: they are rendered as <secret>. With --platform,
    the platform stack too: its objects, its Helm releases (chart, version,
    values) and NOT-RENDERED.md, the list of what no offline render can show.
    """
    from ociam.render.output import city_dir, write_render

    invocation = resolve(ctx, env, output, root)
    only_platform = platform and city is None and not all_cities
    cities = [] if only_platform else selected_cities(invocation, city, all_cities)
    rendered = render_all(invocation, cities)
    target = (out or invocation.root / "rendered").resolve()
    rows: list[dict[str, Any]] = []
    if platform:
        rows.append(_render_platform(invocation, target))
    for item in rendered:
        directory = city_dir(target, item.stack.env, item.stack.city)
        with exit_when_unwritable("the render", directory):
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
