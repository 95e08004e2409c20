"""``ociam report``: capacity and cost per city from the offline render."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ociam.console import EXIT_BAD_INPUT, EXIT_FAILURE, error, info, print_json
from ociam.options import EnvOption, RootOption, resolve

if TYPE_CHECKING:
    from ociam.catalog import EnvironmentCatalog
    from ociam.catalog.environment import SplitRule
    from ociam.options import Invocation
    from ociam.report.build import EnvReport


class ReportFormat(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"


class Split(StrEnum):
    equal = "equal"
    by_requests = "by-requests"
    by_weight = "by-weight"


def _env_report(
    invocation: Invocation,
    catalog: EnvironmentCatalog,
    rendered_dir: Path | None,
    rule: SplitRule | None,
) -> EnvReport:
    """One environment: render (or read the render), read the figures, split the bill."""
    import yaml

    from ociam.commands.render import render_all
    from ociam.report.build import env_report
    from ociam.report.capacity import RenderShapeError
    from ociam.report.cost import SplitError
    from ociam.report.source import MissingRender, RenderedSource, read_rendered

    cities = list(catalog.cities.values())
    try:
        if rendered_dir is None:
            rendered = {
                item.city.slug: RenderedSource(item.objects, item.files)
                for item in render_all(invocation, cities)
            }
        else:
            rendered = read_rendered(rendered_dir, cities)
        return env_report(catalog, rendered, rule)
    except MissingRender as exc:
        error(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except (RenderShapeError, yaml.YAMLError) as exc:
        error(f"{catalog.name}: the render cannot be read: {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except OSError as exc:
        error(f"cannot read {exc.filename}: {exc.strerror or exc}")
        raise typer.Exit(EXIT_FAILURE) from None
    except SplitError as exc:
        for slug in exc.cities:
            source = catalog.cities[slug].source.relative_to(invocation.root)
            info(f"{source}: cost_weight: missing")
        error(f"{catalog.name}: {exc}")
        raise typer.Exit(EXIT_BAD_INPUT) from None


def report(
    ctx: typer.Context,
    all_envs: Annotated[
        bool, typer.Option("--all-envs", help="Every environment, with totals over all of them")
    ] = False,
    output: Annotated[
        ReportFormat | None,
        typer.Option(
            "--output",
            "-o",
            help="table for people, json for machines, csv for spreadsheets, markdown for "
            "memos and pull requests [default: table]",
            show_default=False,
            case_sensitive=False,
        ),
    ] = None,
    chart: Annotated[
        Path | None,
        typer.Option(
            "--chart",
            metavar="FILE",
            dir_okay=False,
            help="Also write a chart of each city's share per month: FILE.png or FILE.svg",
            show_default=False,
        ),
    ] = None,
    split_rule: Annotated[
        Split | None,
        typer.Option(
            "--split",
            help="Split rule instead of cost.split of all.yml: equal, by-requests (each "
            "city's requests at list price) or by-weight (cost_weight of each city file)",
            show_default=False,
            case_sensitive=False,
        ),
    ] = None,
    rendered: Annotated[
        Path | None,
        typer.Option(
            "--from",
            metavar="DIR",
            file_okay=False,
            exists=True,
            help="Read a render written by `ociam render --all --out DIR` instead of "
            "rendering now (it must be of the current catalog)",
            show_default=False,
        ),
    ] = None,
    env: EnvOption = None,
    root: RootOption = None,
) -> None:
    """Capacity and cost per city, from the offline render of its stack.

    Per city: Keycloak pods, CPU and memory requests and limits of every workload
    (Keycloak, the CloudNativePG database with its backup sidecar, and the realm
    configuration Jobs), database instances and storage, backup retention, realms,
    applications and identity brokers; totals per environment (and over all with
    --all-envs). With a price list (cost: in group_vars/all.yml) each environment's
    monthly total (requests of the long-running pods and storage at list price,
    plus the fixed platform share) is split between the cities by the rule, which
    is printed with the prices. Exit 2 when the catalog is invalid or the by-weight
    rule finds a city without cost_weight.
    """
    from dataclasses import replace

    from ociam.catalog import ENVIRONMENTS
    from ociam.commands.common import load_catalog
    from ociam.report import formats
    from ociam.report.build import Report

    invocation = resolve(ctx, env, None, root)
    kind = output or ReportFormat(invocation.output.value)
    if chart is not None:
        from ociam.report.chart import ChartError, chart_format

        try:
            chart_format(chart)
        except ChartError as exc:
            error(f"--chart: {exc}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
    names = list(ENVIRONMENTS) if all_envs else [invocation.env]
    rule: SplitRule | None = split_rule.value if split_rule else None
    result = Report(
        tuple(
            _env_report(
                replace(invocation, env=name),
                load_catalog(replace(invocation, env=name)),
                rendered.resolve() if rendered else None,
                rule,
            )
            for name in names
        )
    )
    if chart is not None:
        from ociam.report.chart import ChartError, write_chart

        try:
            write_chart(result, chart)
        except ChartError as exc:
            error(f"--chart: {exc}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except OSError as exc:
            error(f"--chart: cannot write {chart}: {exc.strerror or exc} (nothing written)")
            raise typer.Exit(EXIT_FAILURE) from None
        info(f"wrote {chart}")
    if kind is ReportFormat.JSON:
        print_json(formats.as_json(result))
    elif kind is ReportFormat.CSV:
        typer.echo(formats.as_csv(result), nl=False)
    elif kind is ReportFormat.MARKDOWN:
        typer.echo(formats.markdown(result), nl=False)
    else:
        typer.echo(formats.table(result), nl=False)
