"""Plan an application change of a city file, check it with the whole environment, write it.

A plan holds the file's text before and after. It is made, and written, under
the lock on ``inventories/`` (the one ``new-city`` takes), only when the whole
environment with the changed file in memory loads without an error; the write is
atomic and refused when the file changed since it was read.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from pathlib import Path

from ociam.apps.entry import NewApplication, build_entry
from ociam.apps.yaml_edit import append_item, remove_item
from ociam.catalog import CityConfig, load_environment
from ociam.catalog.city import OidcApplication, SamlApplication
from ociam.catalog.yaml_source import parse_yaml
from ociam.fileio import ConcurrentChange, write_text_atomic

APPLICATIONS = "applications"
#: where a city file without applications gets them: after the last of these it has
INSERT_AFTER = ("city", "owners", "cost_weight", "hostnames", "admin_allowlist", "realms", "ldap")

Application = OidcApplication | SamlApplication


class UnknownApplication(LookupError):
    """No application (or more than one) answers to the name; the message lists them."""


@dataclass(frozen=True)
class Edit:
    """One city file before and after the change."""

    city: CityConfig
    path: Path
    before: str
    after: str
    client_id: str
    realm: str

    def diff(self, root: Path) -> str:
        name = self.path.relative_to(root).as_posix()
        return "".join(
            difflib.unified_diff(
                self.before.splitlines(keepends=True),
                self.after.splitlines(keepends=True),
                fromfile=f"a/{name}",
                tofile=f"b/{name}",
            )
        )


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def find_application(city: CityConfig, name: str, realm: str | None = None) -> int:
    """Index of the application whose client id (or, failing that, name) is ``name``."""
    apps = [
        (i, a) for i, a in enumerate(city.spec.applications) if realm is None or a.realm == realm
    ]
    by_id = [i for i, a in apps if a.client_id == name]
    found = by_id or [i for i, a in apps if (a.name or "").casefold() == name.casefold()]
    if len(found) == 1:
        return found[0]
    listed = ", ".join(f"{a.client_id} ({a.realm})" for _, a in apps) or "none"
    if found:
        raise UnknownApplication(
            f"'{name}' names {len(found)} applications of {city.slug}; add --realm: {listed}"
        )
    where = f" in realm {realm}" if realm else ""
    raise UnknownApplication(f"no application '{name}' in {city.slug}{where}; known: {listed}")


def _checked(root: Path, city: CityConfig, after: str) -> None:
    """Load the whole environment with the new text (CatalogError lists every problem)."""
    load_environment(root, city.env, overrides={city.source: parse_yaml(after, city.source)})


def plan_add(root: Path, env: str, slug: str, request: NewApplication) -> Edit:
    city = load_environment(root, env).city(slug)
    before = _read(city.source)
    entry = build_entry(replace(request, taken_secret_keys=frozenset(city.secret_keys)))
    after = append_item(before, APPLICATIONS, entry, after=INSERT_AFTER)
    _checked(root, city, after)
    return Edit(city, city.source, before, after, str(entry["client_id"]), request.realm)


def plan_remove(root: Path, env: str, slug: str, name: str, realm: str | None) -> Edit:
    city = load_environment(root, env).city(slug)
    index = find_application(city, name, realm)
    app = city.spec.applications[index]
    before = _read(city.source)
    after = remove_item(before, APPLICATIONS, index)
    _checked(root, city, after)
    return Edit(city, city.source, before, after, app.client_id, app.realm)


def write_edit(edit: Edit) -> None:
    """Replace the file atomically, unless it changed since the plan read it."""
    if _read(edit.path) != edit.before:
        raise ConcurrentChange(f"{edit.path} changed while it was being edited; nothing written")
    write_text_atomic(edit.path, edit.after)
