"""Helpers shared by commands: load the catalog or exit with its problems."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from ociam.console import EXIT_BAD_INPUT, EXIT_FAILURE, error, print_problems

if TYPE_CHECKING:
    from ociam.catalog import CityConfig, EnvironmentCatalog
    from ociam.options import Invocation


def load_catalog(invocation: Invocation, *, show_warnings: bool = False) -> EnvironmentCatalog:
    """Load the invocation's environment; on errors print every problem and exit 2."""
    from ociam.catalog import CatalogError, load_environment

    try:
        catalog = load_environment(invocation.root, invocation.env)
    except CatalogError as exc:
        print_problems(exc.problems, invocation.root)
        count = len(exc.errors)
        typer.echo(
            f"{count} error{'s' if count != 1 else ''} in the {invocation.env} catalog", err=True
        )
        raise typer.Exit(EXIT_BAD_INPUT) from None
    if show_warnings:
        print_problems(catalog.warnings, invocation.root)
    return catalog


def select_city(invocation: Invocation, catalog: EnvironmentCatalog, slug: str) -> CityConfig:
    """The named city, or exit 2 naming the cities that exist."""
    from ociam.catalog import CatalogError

    try:
        return catalog.city(slug)
    except CatalogError as exc:
        print_problems(exc.problems, invocation.root)
        raise typer.Exit(EXIT_BAD_INPUT) from None


@contextmanager
def exit_when_unwritable(what: str, path: Path) -> Iterator[None]:
    """Exit 1 with one line (``cannot write ...``) when ``path`` cannot be written.

    The writers are atomic (``ociam.fileio``): a failure leaves the old files as they were.
    """
    try:
        yield
    except OSError as exc:
        where = exc.filename or path
        error(f"cannot write {what} {where}: {exc.strerror or exc} (nothing was changed)")
        raise typer.Exit(EXIT_FAILURE) from None
