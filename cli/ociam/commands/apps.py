"""``ociam app add | show | remove``: a city's applications (Keycloak clients) in one command."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ociam.console import EXIT_BAD_INPUT, EXIT_FAILURE, error, print_json, print_problems
from ociam.options import EnvOption, OutputOption, RootOption, resolve

if TYPE_CHECKING:
    from collections.abc import Callable

    from ociam.apps.plan import Edit
    from ociam.options import Invocation


class RealmChoice(StrEnum):
    employees = "employees"
    residents = "residents"


class ProtocolChoice(StrEnum):
    oidc = "oidc"
    saml = "saml"


group = typer.Typer(
    name="app",
    help="A city's applications (Keycloak clients): add, show what the vendor needs, remove.",
    no_args_is_help=True,
)

CityArgument = Annotated[str, typer.Argument(help="City slug, e.g. pori", show_default=False)]
NameArgument = Annotated[
    str,
    typer.Argument(help="The application's client id, or its name", show_default=False),
]
RealmOption = Annotated[
    RealmChoice | None,
    typer.Option("--realm", help="Only this realm (when a name is in both)", show_default=False),
]
DryRunOption = Annotated[
    bool, typer.Option("--dry-run", help="Print the change as a diff; write nothing")
]


def _apply(invocation: Invocation, verb: str, make: Callable[[], Edit], dry_run: bool) -> Edit:
    """Plan under the catalog lock, write unless --dry-run; exit 2/1 naming the problem."""
    from ociam.apps.entry import EntryError
    from ociam.apps.plan import UnknownApplication, write_edit
    from ociam.apps.saml_metadata import MetadataError
    from ociam.apps.yaml_edit import EditError
    from ociam.catalog import CatalogError
    from ociam.fileio import ConcurrentChange, Locked, exclusive

    inventories = invocation.root / "inventories"
    try:
        with exclusive(inventories, "the catalog (inventories/)"):
            edit = make()
            if not dry_run:
                write_edit(edit)
    except CatalogError as exc:
        print_problems(exc.errors or exc.problems, invocation.root)
        typer.echo(f"app {verb}: nothing written (lines as in the changed file)", err=True)
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except (EntryError, MetadataError, UnknownApplication) as exc:
        error(f"{exc} (nothing written)")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except EditError as exc:
        error(f"cannot edit the city file in place: {exc} (nothing written)")
        raise typer.Exit(EXIT_BAD_INPUT) from None
    except (Locked, ConcurrentChange) as exc:
        typer.echo(f"app {verb}: {exc}", err=True)
        raise typer.Exit(EXIT_FAILURE) from None
    except OSError as exc:
        error(f"{exc.filename or inventories}: {exc.strerror or exc} (nothing written)")
        raise typer.Exit(EXIT_FAILURE) from None
    return edit


def _report(invocation: Invocation, verb: str, edit: Edit, dry_run: bool, extra: str) -> None:
    relative = str(edit.path.relative_to(invocation.root))
    if dry_run:
        typer.echo(edit.diff(invocation.root), nl=False)
    if invocation.json:
        print_json(
            {
                "env": invocation.env,
                "city": edit.city.slug,
                "realm": edit.realm,
                "client_id": edit.client_id,
                "file": relative,
                "written": not dry_run,
            }
        )
    elif not dry_run:
        typer.echo(f"{verb} {edit.client_id} (realm {edit.realm}) in {relative}{extra}")


@group.command("add")
def add(
    ctx: typer.Context,
    city: CityArgument,
    realm: Annotated[
        RealmChoice,
        typer.Option(
            "--realm", help="employees or residents (enabled in the city)", show_default=False
        ),
    ],
    name: Annotated[
        str,
        typer.Option(
            "--name",
            metavar="NAME",
            help="Display name; an OIDC client id is made from it unless --client-id",
            show_default=False,
        ),
    ],
    protocol: Annotated[
        ProtocolChoice,
        typer.Option("--protocol", help="oidc (OpenID Connect) or saml", show_default=False),
    ],
    redirect_uri: Annotated[
        list[str] | None,
        typer.Option(
            "--redirect-uri",
            metavar="URI",
            help="Exact redirect URI (SAML: assertion consumer URL); repeat for more. "
            "https only (http for localhost), no wildcards in prod",
            show_default=False,
        ),
    ] = None,
    public: Annotated[
        bool,
        typer.Option(
            "--public",
            help="OIDC public client (browser or mobile app: no secret, PKCE only) "
            "[default: confidential, with a secret in the stack's config]",
        ),
    ] = False,
    saml_metadata: Annotated[
        Path | None,
        typer.Option(
            "--saml-metadata",
            metavar="FILE",
            dir_okay=False,
            help="The service provider's SAML metadata XML: entity ID, assertion consumer "
            "URLs and NameID format are taken from it",
            show_default=False,
        ),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option(
            "--client-id",
            metavar="ID",
            help="Client id (SAML: the SP entity ID) [default: OIDC from --name, SAML from "
            "the metadata]",
            show_default=False,
        ),
    ] = None,
    web_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--web-origin",
            metavar="ORIGIN",
            help="OIDC: origin allowed for CORS; repeat for more "
            "[default: the redirect URIs' origins]",
            show_default=False,
        ),
    ] = None,
    post_logout_uri: Annotated[
        list[str] | None,
        typer.Option(
            "--post-logout-uri",
            metavar="URI",
            help="OIDC: where the app may send users after logout [default: its redirect URIs]",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRunOption = False,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Register an application in a city's realm: one entry in the city file.

    The entry is added to applications: in place (comments and layout kept,
    only the new lines added), then the whole environment is validated with the
    changed file; nothing is written if anything is wrong (duplicate client id,
    realm not enabled, wildcard or http redirect URI in prod, ...). A confidential
    OIDC client refers to a secret in the stack's config: set it with the
    command printed. Then `ociam app show CITY NAME` prints what the vendor needs.
    """
    from ociam.apps.entry import NewApplication
    from ociam.apps.plan import plan_add
    from ociam.apps.saml_metadata import MetadataError, read

    invocation = resolve(ctx, env, output, root)
    metadata = None
    if saml_metadata is not None:
        try:
            metadata = read(saml_metadata)
        except MetadataError as exc:
            error(f"--saml-metadata: {exc}")
            raise typer.Exit(EXIT_BAD_INPUT) from None
    request = NewApplication(
        realm=realm.value,
        name=name,
        protocol=protocol.value,
        redirect_uris=redirect_uri or [],
        public=public,
        client_id=client_id,
        web_origins=web_origin or [],
        post_logout_redirect_uris=post_logout_uri or [],
        metadata=metadata,
    )
    edit = _apply(
        invocation,
        "add",
        lambda: plan_add(invocation.root, invocation.env, city, request),
        dry_run,
    )
    added = edit.city
    extra = ""
    application = _added_application(edit)
    secret = getattr(application, "client_secret", None)
    if secret is not None:
        from ociam.apps.vendor import stack_command

        command = stack_command(
            added, invocation.root, f"config set --secret ociam:{secret.pulumi_secret}"
        )
        extra = f"\nnext: set its secret (a long random value; pulumi asks for it): {command}"
    extra += f"\nthen: ociam app show {city} {edit.client_id} --env {invocation.env}"
    _report(invocation, "added", edit, dry_run, extra)


def _added_application(edit: Edit) -> object:
    """The new entry as the catalog model reads it from the planned text."""
    from ociam.catalog.city import CityFile
    from ociam.catalog.yaml_source import parse_yaml

    spec = CityFile.model_validate(parse_yaml(edit.after, edit.path).data)
    return next(
        a for a in spec.applications if a.client_id == edit.client_id and a.realm == edit.realm
    )


@group.command("remove")
def remove(
    ctx: typer.Context,
    city: CityArgument,
    name: NameArgument,
    realm: RealmOption = None,
    dry_run: DryRunOption = False,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Remove an application from a city file (refused when no application has that name).

    Only its lines (and the comment right above it) go; the environment is
    validated with the changed file before anything is written. Its secret stays
    in the stack's config until removed with `pulumi config rm`.
    """
    from ociam.apps.plan import plan_remove

    invocation = resolve(ctx, env, output, root)
    edit = _apply(
        invocation,
        "remove",
        lambda: plan_remove(
            invocation.root, invocation.env, city, name, realm.value if realm else None
        ),
        dry_run,
    )
    _report(invocation, "removed", edit, dry_run, "")


@group.command("show")
def show(
    ctx: typer.Context,
    city: CityArgument,
    name: NameArgument,
    realm: RealmOption = None,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Print what the application's vendor needs, from the city's offline render.

    OIDC: issuer, discovery URL, client id, the command that reads the client
    secret from the stack (never the secret), redirect URIs and the required
    settings (authorization code flow, PKCE S256). SAML: the IdP metadata URL,
    entity IDs, ACS URLs and what is signed.
    """
    from ociam.apps.plan import UnknownApplication, find_application
    from ociam.apps.vendor import NotRendered, vendor_sheet
    from ociam.commands.common import load_catalog, select_city
    from ociam.commands.render import render_all

    invocation = resolve(ctx, env, output, root)
    config = select_city(invocation, load_catalog(invocation), city)
    try:
        index = find_application(config, name, realm.value if realm else None)
    except UnknownApplication as exc:
        error(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    (rendered,) = render_all(invocation, [config])
    try:
        sheet = vendor_sheet(config, invocation.root, index, rendered.objects, rendered.files)
    except NotRendered as exc:
        error(f"{config.stack_name}: {exc}")
        raise typer.Exit(EXIT_FAILURE) from None
    if invocation.json:
        print_json(sheet.as_dict())
    else:
        typer.echo(sheet.text(), nl=False)
