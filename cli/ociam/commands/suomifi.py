"""``ociam suomifi-metadata``: the SP metadata file a city uploads to Suomi.fi."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ociam.commands.common import exit_when_unwritable, load_catalog, select_city
from ociam.console import EXIT_BAD_INPUT, error, info, print_json
from ociam.options import EnvOption, OutputOption, RootOption, resolve


def suomifi_metadata(
    ctx: typer.Context,
    city: Annotated[
        str,
        typer.Option("--city", "-c", help="One city (its slug, e.g. pori)", show_default=False),
    ],
    certificate: Annotated[
        Path | None,
        typer.Option(
            "--certificate",
            dir_okay=False,
            help="PEM file with the one certificate of realms.residents.suomifi.signing_key "
            "(public part only; it is a Pulumi secret, so offline it must be given)",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", dir_okay=False, help="Write the XML here [default: stdout]", show_default=False
        ),
    ] = None,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """The SAML SP metadata of a city's residents realm, for Suomi.fi Palveluhallinta.

    Entity ID, broker endpoint (ACS HTTP-POST, SLO), transient NameID, signed
    requests and assertions, one certificate for signing and encryption, and the
    requested attributes: exactly those the realm uses (the personal identity code
    always: it is the broker's link key; stored on the user only with
    request_personal_identity_code: true). Exit 2 names what is missing.
    """
    from ociam import suomifi_metadata as metadata
    from ociam.fileio import write_text_atomic

    invocation = resolve(ctx, env, output, root)
    selected = select_city(invocation, load_catalog(invocation), city)
    try:
        spec = metadata.residents_spec(selected)
        if spec.suomifi.signing_key is None:
            raise metadata.NoSpKey(metadata.no_key_message(selected))
        if certificate is None:
            raise metadata.CertificateNeeded(metadata.certificate_needed(selected))
        document = metadata.build(selected, metadata.read_certificate(certificate))
    except metadata.MetadataInputError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if out is not None:
        with exit_when_unwritable("the metadata", out):
            write_text_atomic(out, document.xml)
    if invocation.json:
        print_json(
            {
                "env": invocation.env,
                "city": selected.slug,
                "entity_id": document.entity_id,
                "acs_url": document.acs_url,
                "slo_url": document.slo_url,
                "requested_attributes": [a.name for a in document.attributes],
                "certificate_sha256": document.certificate_sha256,
                "missing": list(document.missing),
                "file": str(out) if out is not None else None,
                "xml": None if out is not None else document.xml,
            }
        )
        return
    if out is None:
        typer.echo(document.xml, nl=False)
    else:
        info(f"wrote {out}: SP metadata of {document.entity_id}")
    for note in document.missing:
        info(f"not in the file: {note}")
