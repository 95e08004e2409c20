"""``ociam new-city``: scaffold a city file and its inventory group."""

from __future__ import annotations

from typing import Annotated

import typer

from ociam.console import EXIT_BAD_INPUT, EXIT_FAILURE, print_json, print_problems
from ociam.options import EnvOption, OutputOption, RootOption, resolve


def new_city(
    ctx: typer.Context,
    slug: Annotated[
        str,
        typer.Argument(
            help="ASCII id, lower case letters and digits (e.g. 'seinajoki' for Seinäjoki)",
            show_default=False,
        ),
    ],
    name: Annotated[str, typer.Option("--name", help="Official Finnish name", show_default=False)],
    domain: Annotated[
        str,
        typer.Option(
            "--domain", help="The city's own DNS domain, e.g. pori.fi", show_default=False
        ),
    ],
    municipality_code: Annotated[
        str,
        typer.Option(
            "--code", help="Kuntanumero, three digits (Statistics Finland)", show_default=False
        ),
    ],
    admin_cidr: Annotated[
        list[str],
        typer.Option(
            "--admin-cidr",
            help="CIDR allowed to the admin console (repeat for more)",
            show_default=False,
        ),
    ],
    name_sv: Annotated[
        str | None,
        typer.Option(
            "--name-sv", help="Official Swedish name; makes the city bilingual", show_default=False
        ),
    ] = None,
    onprem_cidr: Annotated[
        list[str] | None,
        typer.Option(
            "--onprem-cidr",
            help="CIDR the city's admins SSH to the connector from "
            "[default: the --admin-cidr values]",
            show_default=False,
        ),
    ] = None,
    connector_host: Annotated[
        str | None,
        typer.Option(
            "--connector-host",
            help="Inventory name of the city's connector host",
            show_default=False,
        ),
    ] = None,
    ad_domain: Annotated[
        str | None,
        typer.Option(
            "--ad-domain",
            help="Active Directory DNS domain [default: ad.<domain>]",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print what would be written; write nothing")
    ] = False,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Scaffold a new city: group_vars/<slug>.yml and its group in hosts.yml.

    Tunnel and hub addresses are the next free ones of the environment. The
    result is validated with the whole environment before anything is written;
    existing files are never overwritten.
    """
    from ociam.catalog import CatalogError
    from ociam.catalog.loader import environment_dir
    from ociam.catalog.scaffold import NewCity, plan_new_city, write_scaffold
    from ociam.fileio import ConcurrentChange, Locked, exclusive

    invocation = resolve(ctx, env, output, root)
    request = NewCity(
        slug=slug,
        name_fi=name,
        domain=domain,
        municipality_code=municipality_code,
        admin_cidrs=admin_cidr,
        name_sv=name_sv,
        onprem_cidrs=onprem_cidr or [],
        connector_host=connector_host,
        ad_domain=ad_domain,
    )
    environment = environment_dir(invocation.root, invocation.env)
    try:
        # one new-city at a time: two would take the same free addresses. The lock is on
        # inventories/ itself, which the atomic swap of the environment never replaces
        with exclusive(environment.parent, "the catalog (inventories/)"):
            plan = plan_new_city(invocation.root, invocation.env, request)
            if not dry_run:
                write_scaffold(plan, environment)
    except CatalogError as exc:
        print_problems(exc.problems, invocation.root)
        typer.echo("new-city: nothing written", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except (Locked, ConcurrentChange) as exc:
        typer.echo(f"new-city: {exc}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None
    except OSError as exc:
        typer.echo(
            f"new-city: cannot write {exc.filename or environment}: {exc.strerror or exc}"
            " (nothing written)",
            err=True,
        )
        raise typer.Exit(EXIT_FAILURE) from None
    written = [str(path.relative_to(invocation.root)) for path in plan.files]
    if dry_run:
        for path, text in plan.files.items():
            typer.echo(f"--- {path.relative_to(invocation.root)}")
            typer.echo(text, nl=False)
    if invocation.json:
        print_json(
            {
                "env": invocation.env,
                "city": slug,
                "written": [] if dry_run else written,
                "tunnel_address": str(plan.tunnel_address),
                "hub_service_address": str(plan.hub_service_address),
            }
        )
    elif not dry_run:
        typer.echo(
            f"created {written[0]}\nadded group '{slug}' to {written[1]}\n"
            f"tunnel {plan.tunnel_address}, hub address {plan.hub_service_address}\n"
            f"next: set secrets with `pulumi config set --secret ldapBindPassword` on "
            f"stack {invocation.env}-{slug}, then `ociam validate --env {invocation.env} "
            f"--city {slug}`"
        )
