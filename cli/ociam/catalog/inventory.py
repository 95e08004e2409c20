"""The Ansible inventory of one environment (``inventories/<env>/hosts.yml``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ociam.catalog.errors import Problem
from ociam.catalog.yaml_source import YamlDocument


@dataclass(frozen=True)
class Inventory:
    """Which hosts form the hub and which connector hosts belong to each city."""

    path: Path
    hub_hosts: tuple[str, ...]
    city_hosts: dict[str, tuple[str, ...]] = field(default_factory=dict)
    document: YamlDocument | None = None

    def city_line(self, slug: str) -> int | None:
        if self.document is None:
            return None
        return self.document.lines.get(("all", "children", "cities", "children", slug))


def _mapping(value: Any) -> dict[str, Any] | None:
    if value is None:
        return {}
    return value if isinstance(value, dict) else None


def _hosts(
    group: dict[str, Any], where: str, doc: YamlDocument, problems: list[Problem]
) -> tuple[str, ...]:
    hosts = _mapping(group.get("hosts"))
    if hosts is None:
        problems.append(
            Problem(
                doc.path,
                f"{where}.hosts",
                "must be a mapping of host names",
                doc.line_of((*_location(where), "hosts")) or 1,
            )
        )
        return ()
    for name, value in hosts.items():
        if value is not None:
            problems.append(
                Problem(
                    doc.path,
                    f"{where}.hosts.{name}",
                    "host variables in hosts.yml are not allowed: Ansible would apply them "
                    "over the catalog's group_vars (leave the host empty)",
                    doc.line_of((*_location(where), "hosts", name)) or 1,
                )
            )
    return tuple(str(name) for name in hosts)


def _location(where: str) -> tuple[str, ...]:
    return tuple(where.split("."))


def _group_vars_inside(
    group: Any, path: tuple[str, ...], doc: YamlDocument, problems: list[Problem]
) -> None:
    """Refuse ``vars:`` in any group of hosts.yml: Ansible applies them, ociam would not."""
    if not isinstance(group, dict):
        return
    if "vars" in group:
        problems.append(
            Problem(
                doc.path,
                ".".join((*path, "vars")),
                "group variables in hosts.yml are not allowed: Ansible would apply them and "
                "ociam would not read them (put them in group_vars/)",
                doc.line_of((*path, "vars")) or 1,
            )
        )
    children = group.get("children")
    if isinstance(children, dict):
        for name, child in children.items():
            _group_vars_inside(child, (*path, "children", str(name)), doc, problems)


def parse_inventory(doc: YamlDocument, problems: list[Problem]) -> Inventory:
    """Read the groups ociam relies on; append a problem for each structural mistake."""
    empty = Inventory(path=doc.path, hub_hosts=(), document=doc)
    root = doc.data if isinstance(doc.data, dict) else {}
    _group_vars_inside(root.get("all"), ("all",), doc, problems)
    all_group = _mapping(root.get("all"))
    children = _mapping(all_group.get("children")) if all_group else None
    if not children:
        problems.append(
            Problem(
                doc.path,
                "all.children",
                "expected 'all: children:' with groups 'hub' and 'cities'",
                doc.line_of(("all",)) or 1,
            )
        )
        return empty
    hub = _mapping(children.get("hub"))
    if "hub" not in children or hub is None:
        problems.append(
            Problem(
                doc.path,
                "all.children.hub",
                "the 'hub' group is missing",
                doc.line_of(("all", "children")) or 1,
            )
        )
        hub_hosts: tuple[str, ...] = ()
    else:
        hub_hosts = _hosts(hub, "all.children.hub", doc, problems)
    cities = _mapping(children.get("cities"))
    city_children = _mapping((cities or {}).get("children"))
    if "cities" not in children or cities is None or city_children is None:
        problems.append(
            Problem(
                doc.path,
                "all.children.cities.children",
                "the 'cities' group with one child group per city is missing",
                doc.line_of(("all", "children")) or 1,
            )
        )
        return Inventory(path=doc.path, hub_hosts=hub_hosts, document=doc)
    city_hosts: dict[str, tuple[str, ...]] = {}
    for slug, group in city_children.items():
        where = f"all.children.cities.children.{slug}"
        mapping = _mapping(group)
        if mapping is None:
            problems.append(
                Problem(
                    doc.path,
                    where,
                    "a city group must be a mapping",
                    doc.line_of(("all", "children", "cities", "children", slug)) or 1,
                )
            )
            continue
        city_hosts[str(slug)] = _hosts(mapping, where, doc, problems)
    return Inventory(path=doc.path, hub_hosts=hub_hosts, city_hosts=city_hosts, document=doc)
