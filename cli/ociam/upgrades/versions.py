"""Which versions a city runs, and which change: Keycloak, keycloak-config-cli,
PostgreSQL and the CloudNativePG operator and Barman Cloud plugin.

Three sources: the working tree (catalog images and ``stacks/platform/platform.yml``
charts: what a deploy would run), a git revision (the same files at the base of
``--changed-since``), and a stack's state (``pulumi stack export``: what the last
``up`` deployed; the operators are in the platform stack, so they come only from git).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ociam.changes import GitError, git_output

KEYCLOAK = "Keycloak"
CONFIG_CLI = "keycloak-config-cli"
POSTGRESQL = "PostgreSQL"
CNPG = "CloudNativePG operator"
BARMAN = "Barman Cloud plugin"
#: catalog ``images`` keys and platform.yml chart keys of each component
IMAGE_KEYS = {KEYCLOAK: "keycloak", CONFIG_CLI: "keycloak_config_cli", POSTGRESQL: "postgresql"}
CHART_KEYS = {CNPG: "cloudnative_pg", BARMAN: "barman_cloud"}
#: what the backup gate guards: a change of these needs a fresh backup
GATED = (KEYCLOAK, POSTGRESQL)


@dataclass(frozen=True)
class Versions:
    """Component → version; ``keycloak_options`` are the options the server runs with
    (for ``kc.sh update-compatibility``)."""

    values: Mapping[str, str]
    keycloak_options: tuple[str, ...] = ()
    #: the state holds a CloudNativePG Cluster (an existing database)
    has_database: bool = False


@dataclass(frozen=True)
class VersionChange:
    component: str
    old: str
    new: str

    def line(self) -> str:
        return f"{self.component} {self.old} -> {self.new}"


@dataclass
class VersionReport:
    """Per stack label: the version changes and notes (rollout decision, missing data)."""

    changes: dict[str, list[VersionChange]] = field(default_factory=dict)
    notes: dict[str, list[str]] = field(default_factory=dict)

    def lines(self, label: str) -> list[str]:
        return [c.line() for c in self.changes.get(label, [])] + self.notes.get(label, [])


def diff_versions(old: Versions | None, new: Versions) -> list[VersionChange]:
    if old is None:
        return []
    return [
        VersionChange(name, old.values[name], version)
        for name, version in new.values.items()
        if name in old.values and old.values[name] != version
    ]


def _tag(image: Any) -> str:
    return str(image.get("tag", "")) if isinstance(image, dict) else ""


def from_files(
    all_yml: Mapping[str, Any], city_yml: Mapping[str, Any], platform_yml: Mapping[str, Any]
) -> dict[str, str]:
    """Versions from the parsed catalog and platform files (a city's ``images`` replaces
    the whole default, as Ansible merges)."""
    images = city_yml.get("images") or all_yml.get("images") or {}
    values = {name: _tag(images.get(key)) for name, key in IMAGE_KEYS.items()}
    charts = platform_yml.get("charts") or {}
    for name, key in CHART_KEYS.items():
        chart = charts.get(key) or {}
        values[name] = str(chart.get("app_version") or chart.get("version") or "")
    return {k: v for k, v in values.items() if v}


def chart_versions(platform_yml: Mapping[str, Any]) -> dict[str, str]:
    """The platform stack's operators and controllers: chart key → app version."""
    charts = platform_yml.get("charts") or {}
    return {
        f"{key} chart": str(chart.get("app_version") or chart.get("version") or "")
        for key, chart in sorted(charts.items())
        if isinstance(chart, dict)
    }


def platform_changes(root: Path, commit: str) -> list[VersionChange]:
    """The chart versions of ``stacks/platform/platform.yml`` from ``commit`` to the tree."""
    try:
        before = _load(git_output(root, "show", f"{commit}:./stacks/platform/platform.yml"))
    except GitError:
        before = {}
    path = root / "stacks" / "platform" / "platform.yml"
    after = _load(path.read_text(encoding="utf-8") if path.is_file() else None)
    old = chart_versions(before)
    return [
        VersionChange(name, old[name], new)
        for name, new in chart_versions(after).items()
        if name in old and old[name] != new
    ]


def _load(text: str | None) -> dict[str, Any]:
    data = yaml.safe_load(text) if text else None
    return data if isinstance(data, dict) else {}


def working_tree(root: Path, env: str, city: str, options: Sequence[str]) -> Versions:
    def read(relative: str) -> str | None:
        path = root / relative
        return path.read_text(encoding="utf-8") if path.is_file() else None

    return Versions(
        from_files(
            _load(read(f"inventories/{env}/group_vars/all.yml")),
            _load(read(f"inventories/{env}/group_vars/{city}.yml")),
            _load(read("stacks/platform/platform.yml")),
        ),
        tuple(options),
    )


def at_revision(root: Path, commit: str, env: str, city: str, options: Sequence[str]) -> Versions:
    """The versions at a git revision (``git show``; the catalog files only)."""

    def read(relative: str) -> str | None:
        try:
            return git_output(root, "show", f"{commit}:./{relative}")
        except GitError:
            return None

    city_text = read(f"inventories/{env}/group_vars/{city}.yml")
    if city_text is None:  # a new city: nothing to upgrade from
        return Versions({})
    return Versions(
        from_files(
            _load(read(f"inventories/{env}/group_vars/all.yml")),
            _load(city_text),
            _load(read("stacks/platform/platform.yml")),
        ),
        tuple(options),
    )


def _tag_of(image: str) -> str:
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[1] if ":" in last else ""


def from_state(resources: Sequence[Mapping[str, Any]]) -> Versions | None:
    """What the stack's last ``up`` deployed (its StatefulSet, realm Job and database
    Cluster inputs in ``pulumi stack export``); None for a stack never deployed."""
    values: dict[str, str] = {}
    options: tuple[str, ...] = ()
    has_database = False
    for resource in resources:
        kind = str(resource.get("type", ""))
        inputs = resource.get("inputs") or {}
        spec = inputs.get("spec") or {}
        if kind == "kubernetes:apps/v1:StatefulSet":
            pod = (spec.get("template") or {}).get("spec") or {}
            containers = {c.get("name"): c for c in pod.get("containers") or []}
            inits = {c.get("name"): c for c in pod.get("initContainers") or []}
            server = containers.get("keycloak")
            if server is None:
                continue
            values[KEYCLOAK] = _tag_of(str(server.get("image", "")))
            build = inits.get("kc-build") or {}
            env = {e.get("name"): e.get("value") for e in server.get("env") or []}
            options = tuple(a for a in (build.get("args") or [])[1:]) + tuple(
                f"--{flag}={env[key]}"
                for key, flag in (("KC_CACHE", "cache"), ("KC_CACHE_STACK", "cache-stack"))
                if env.get(key)
            )
        elif kind == "kubernetes:batch/v1:Job":
            pod = (spec.get("template") or {}).get("spec") or {}
            for container in pod.get("containers") or []:
                if "config-cli" in str(container.get("image", "")):
                    values[CONFIG_CLI] = _tag_of(str(container["image"]))
        elif kind == "kubernetes:postgresql.cnpg.io/v1:Cluster":
            has_database = True
            values[POSTGRESQL] = _tag_of(str(spec.get("imageName", "")))
    if not values and not has_database:
        return None
    return Versions({k: v for k, v in values.items() if v}, options, has_database)
