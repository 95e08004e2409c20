"""Catalog commands: cities, show, validate, schema."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ociam.commands.common import load_catalog, select_city
from ociam.console import EXIT_BAD_INPUT, EXIT_OK, print_json, print_problems, print_table
from ociam.options import CityOption, EnvOption, OutputOption, RootOption, resolve

if TYPE_CHECKING:
    from ociam.catalog import Problem
    from ociam.options import Invocation


def cities(
    ctx: typer.Context, env: EnvOption = None, output: OutputOption = None, root: RootOption = None
) -> None:
    """List the cities of an environment with their hostnames and size profile."""
    invocation = resolve(ctx, env, output, root)
    catalog = load_catalog(invocation)
    rows: list[dict[str, Any]] = [
        {
            "slug": city.slug,
            "name": city.spec.city.names.fi,
            "name_sv": city.spec.city.names.sv,
            "municipality_code": city.spec.city.municipality_code,
            "stack": city.stack_name,
            "public_hostname": city.hostnames.public,
            "admin_hostname": city.hostnames.admin,
            "size_profile": city.size_profile,
            "realms": city.spec.realms.enabled(),
            "connector_hosts": list(city.inventory_hosts),
        }
        for city in catalog.cities.values()
    ]
    if invocation.json:
        print_json({"env": catalog.name, "cities": rows})
        return
    print_table(
        ["CITY", "NAME", "CODE", "PUBLIC HOSTNAME", "PROFILE", "REALMS"],
        [
            [
                r["slug"],
                r["name"] if not r["name_sv"] else f"{r['name']} / {r['name_sv']}",
                r["municipality_code"],
                r["public_hostname"],
                r["size_profile"],
                ",".join(r["realms"]),
            ]
            for r in rows
        ],
    )


def _redact(value: Any) -> Any:
    """Show secret references as what they are: pointers, with no value."""
    if isinstance(value, dict):
        if set(value) == {"pulumi_secret"}:
            return f"<secret: pulumi config ociam:{value['pulumi_secret']}>"
        return {k: _redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v) for v in value]
    return value


def show(
    ctx: typer.Context,
    city: Annotated[str, typer.Argument(help="City slug, e.g. pori", show_default=False)],
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Show a city's resolved configuration: environment defaults merged with its file.

    Secrets are never in the catalog; their references are shown as <secret: ...>.
    """
    invocation = resolve(ctx, env, output, root)
    config = select_city(invocation, load_catalog(invocation), city)
    data = _redact(config.resolved())
    if invocation.json:
        print_json(data)
        return
    import yaml

    typer.echo(
        f"# {config.stack_name}: {config.source.relative_to(invocation.root)} "
        f"merged over group_vars/all.yml"
    )
    typer.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)


def _validate_env(invocation: Invocation, city: str | None) -> tuple[list[Problem], list[str]]:
    """Problems of one environment (restricted to one city's files) and the cities checked."""
    from ociam.catalog import CatalogError, load_environment
    from ociam.catalog.loader import (
        DEFAULTS_FILE,
        INVENTORY_FILE,
        environment_dir,
        unknown_city_problem,
    )

    try:
        catalog = load_environment(invocation.root, invocation.env)
        problems, slugs = list(catalog.warnings), sorted(catalog.cities)
    except CatalogError as exc:
        problems, slugs = exc.problems, []
    if city is None:
        return problems, slugs
    directory = environment_dir(invocation.root, invocation.env)
    city_file = directory / "group_vars" / f"{city}.yml"
    if not city_file.exists():
        known = (p.stem for p in city_file.parent.glob("*.yml") if p.name != DEFAULTS_FILE)
        return [unknown_city_problem(directory, invocation.env, city, known)], []
    relevant = {city_file, directory / "group_vars" / DEFAULTS_FILE, directory / INVENTORY_FILE}
    return [p for p in problems if p.file in relevant], [city] if city in slugs else []


def validate(
    ctx: typer.Context,
    city: CityOption = None,
    all_envs: Annotated[
        bool, typer.Option("--all-envs", help="Validate dev, staging and prod")
    ] = False,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warnings as errors")] = False,
    rendered: Annotated[
        bool,
        typer.Option(
            "--rendered",
            help="Also render each city offline and validate every manifest strictly "
            "(Kubernetes schemas at the env's version; custom resources against the CRDs)",
        ),
    ] = False,
    crd_dir: Annotated[
        Path | None,
        typer.Option(
            "--crd-dir",
            envvar="OCIAM_CRD_DIR",
            file_okay=False,
            help="CRD manifests for --rendered [env var: OCIAM_CRD_DIR; default: ../shared/crds]",
        ),
    ] = None,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Check the catalog: every file against its schema, and the rules across files.

    Each problem names the file, line, field and reason. With --rendered, each
    city is also rendered offline and every manifest validated strictly. Exit
    code 2 when any error is found (or any warning, with --strict).
    """
    from dataclasses import replace

    from ociam.catalog import ENVIRONMENTS, Severity

    invocation = resolve(ctx, env, output, root)
    envs = list(ENVIRONMENTS) if all_envs else [invocation.env]
    report: list[dict[str, Any]] = []
    failed = False
    for name in envs:
        problems, slugs = _validate_env(replace(invocation, env=name), city)
        errors = [
            p
            for p in problems
            if p.severity is Severity.ERROR or (strict and p.severity is Severity.WARNING)
        ]
        manifest_problems: list[dict[str, str]] = []
        if rendered and not errors:
            manifest_problems = _rendered_problems(replace(invocation, env=name), slugs, crd_dir)
        failed = failed or bool(errors) or bool(manifest_problems)
        entry: dict[str, Any] = {
            "env": name,
            "ok": not errors and not manifest_problems,
            "cities": slugs,
            "problems": [p.as_dict(invocation.root) for p in problems],
        }
        if rendered:
            entry["manifest_problems"] = manifest_problems
        report.append(entry)
        if not invocation.json:
            print_problems(problems, invocation.root)
            warnings = len(problems) - len([p for p in problems if p.severity is Severity.ERROR])
            summary = (
                f"{name}: {len(errors)} error(s), {warnings} warning(s)"
                if errors
                else f"{name}: ok, {len(slugs)} cit{'y' if len(slugs) == 1 else 'ies'} valid"
                + (f", {warnings} warning(s)" if warnings else "")
            )
            typer.echo(summary, err=bool(errors))
            if rendered and not errors:
                for item in manifest_problems:
                    typer.echo(f"{item['stack']}: {item['problem']}", err=True)
                typer.echo(
                    f"{name}: {len(manifest_problems)} manifest problem(s)"
                    if manifest_problems
                    else f"{name}: rendered manifests of {len(slugs)} cities valid",
                    err=bool(manifest_problems),
                )
    if invocation.json:
        print_json({"ok": not failed, "environments": report})
    raise typer.Exit(EXIT_BAD_INPUT if failed else EXIT_OK)


def _rendered_problems(
    invocation: Invocation, slugs: list[str], crd_dir: Path | None
) -> list[dict[str, str]]:
    """Render the cities offline and validate their manifests; exit 1 if rendering fails."""
    from ociam.catalog import load_environment
    from ociam.console import EXIT_FAILURE, error
    from ociam.engines.base import EngineError
    from ociam.render.service import validate_rendered
    from ociam.render.validation import default_crd_dir

    catalog = load_environment(invocation.root, invocation.env)
    try:
        found = validate_rendered(
            invocation.root,
            [catalog.city(slug) for slug in slugs],
            crd_dir or default_crd_dir(invocation.root),
        )
    except (EngineError, ValueError) as exc:
        error(str(exc))
        raise typer.Exit(EXIT_FAILURE) from None
    return [{"stack": stack, "problem": problem.render()} for stack, problem in found]


def schema(
    environment: Annotated[
        bool,
        typer.Option("--environment", help="Schema of group_vars/all.yml instead of a city file"),
    ] = False,
) -> None:
    """Print the JSON Schema of a city file (for editors: completion and checks)."""
    from ociam.catalog.schema import city_schema, environment_schema

    print_json(environment_schema() if environment else city_schema())
