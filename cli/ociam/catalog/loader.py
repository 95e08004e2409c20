"""Load one environment of the catalog: defaults, inventory and every city, fully checked."""

from __future__ import annotations

import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from ociam.catalog.checks import CityInput, check_cities, check_environment, check_inventory
from ociam.catalog.city import CityFile
from ociam.catalog.environment import ENVIRONMENTS, EnvironmentSettings, EnvName
from ociam.catalog.errors import CatalogError, Problem, Severity
from ociam.catalog.inventory import Inventory, parse_inventory
from ociam.catalog.resolved import CityConfig, derive_hostnames, effective_settings
from ociam.catalog.validation import validate_document
from ociam.catalog.yaml_source import YamlDocument, read_yaml

DEFAULTS_FILE = "all.yml"
INVENTORY_FILE = "hosts.yml"
#: group_vars files Ansible would apply to every city behind the catalog's back
FORBIDDEN_GROUP_FILES = {"cities", "hub", "ungrouped"}


@dataclass(frozen=True)
class EnvironmentCatalog:
    """A loaded, checked environment. Problems of severity warning ride along."""

    name: EnvName
    directory: Path
    settings: EnvironmentSettings
    inventory: Inventory
    cities: dict[str, CityConfig]
    warnings: list[Problem] = field(default_factory=list)

    def city(self, slug: str) -> CityConfig:
        try:
            return self.cities[slug]
        except KeyError:
            raise CatalogError(
                [unknown_city_problem(self.directory, self.name, slug, self.cities)]
            ) from None


def unknown_city_problem(directory: Path, env: str, slug: str, known: Iterable[str]) -> Problem:
    names = ", ".join(sorted(known)) or "none"
    return Problem(
        directory / "group_vars" / f"{slug}.yml",
        "city",
        f"unknown city '{slug}' in {env}; known: {names}",
    )


def environment_dir(root: Path, env: str) -> Path:
    return root / "inventories" / env


def check_env_name(root: Path, env: str) -> EnvName:
    for name in ENVIRONMENTS:
        if name == env:
            return name
    raise CatalogError(
        [
            Problem(
                root / "inventories",
                "env",
                f"unknown environment '{env}'; use one of {', '.join(ENVIRONMENTS)}",
            )
        ]
    )


def _unreadable(path: Path, exc: OSError) -> CatalogError:
    return CatalogError([Problem(path, "", f"cannot read: {exc.strerror}")])


def require_group_vars(group_vars: Path) -> None:
    """Raise CatalogError unless ``group_vars`` is a directory that can be listed."""
    try:
        is_dir = stat.S_ISDIR(group_vars.stat().st_mode)
    except FileNotFoundError:
        is_dir = False
    except OSError as exc:
        # the environment directory (or inventories/) itself cannot be searched
        raise _unreadable(group_vars, exc) from exc
    if not is_dir:
        raise CatalogError([Problem(group_vars, "", "missing: each environment needs group_vars/")])


def city_file_paths(group_vars: Path, problems: list[Problem]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    try:
        entries = sorted(group_vars.iterdir())
    except OSError as exc:
        raise _unreadable(group_vars, exc) from exc
    for path in entries:
        if path.name == DEFAULTS_FILE or path.name.startswith("."):
            continue
        # a directory named <city>.yml is read (and refused) as that city's file
        if path.suffix != ".yml":
            problems.append(
                Problem(
                    path,
                    "",
                    "unexpected entry in group_vars; catalog files are <city>.yml next to all.yml",
                )
            )
        elif path.stem in FORBIDDEN_GROUP_FILES:
            problems.append(
                Problem(
                    path,
                    "",
                    f"group_vars/{path.name} would change variables "
                    "of many hosts behind the catalog; put environment "
                    "defaults in all.yml",
                )
            )
        else:
            files[path.stem] = path
    return files


def _build_city(
    document: YamlDocument,
    settings: EnvironmentSettings,
    env: EnvName,
    inventory: Inventory,
    problems: list[Problem],
) -> CityInput | None:
    spec = validate_document(CityFile, document, problems)
    if spec is None:
        return None
    try:
        hostnames = derive_hostnames(settings, spec)
    except ValidationError as exc:
        reason = "; ".join(e["msg"].removeprefix("Value error, ") for e in exc.errors())
        problems.append(
            Problem(
                document.path,
                "city.domain",
                f"hostname_pattern of the environment gives invalid names: {reason}",
                document.line_of(("city", "domain")),
            )
        )
        return None
    config = CityConfig(
        env=env,
        settings=effective_settings(settings, spec),
        spec=spec,
        source=document.path,
        inventory_hosts=inventory.city_hosts.get(spec.city.slug, ()),
        hostnames=hostnames,
    )
    return CityInput(document=document, config=config)


def load_environment(
    root: Path, env: str, *, overrides: dict[Path, YamlDocument] | None = None
) -> EnvironmentCatalog:
    """Load and check every file of one environment.

    ``overrides`` supplies documents in place of files on disk (used to check a
    scaffolded city before anything is written). Raises CatalogError with every
    problem found when any is an error.
    """
    env_name = check_env_name(root, env)
    directory = environment_dir(root, env_name)
    group_vars = directory / "group_vars"
    require_group_vars(group_vars)
    overrides = overrides or {}

    def read(path: Path) -> YamlDocument:
        return overrides[path] if path in overrides else read_yaml(path)

    problems: list[Problem] = []
    host_vars = directory / "host_vars"
    if host_vars.is_symlink() or host_vars.exists():
        problems.append(
            Problem(
                host_vars,
                "",
                "host_vars/ is not allowed: Ansible would apply it over the catalog's "
                "group_vars and ociam would not read it (put the values in group_vars/<city>.yml)",
            )
        )
    documents: dict[Path, YamlDocument] = {}
    paths = [group_vars / DEFAULTS_FILE, directory / INVENTORY_FILE]
    city_paths = city_file_paths(group_vars, problems)
    for extra in overrides:
        if extra.parent == group_vars and extra.name != DEFAULTS_FILE:
            city_paths[extra.stem] = extra
    for path in [*paths, *city_paths.values()]:
        try:
            documents[path] = read(path)
        except CatalogError as exc:
            problems.extend(exc.problems)

    settings_doc = documents.get(paths[0])
    settings = (
        validate_document(EnvironmentSettings, settings_doc, problems) if settings_doc else None
    )
    inventory_doc = documents.get(paths[1])
    inventory = (
        parse_inventory(inventory_doc, problems)
        if inventory_doc
        else Inventory(path=paths[1], hub_hosts=())
    )
    problems.extend(check_inventory(inventory, city_paths))

    cities: list[CityInput] = []
    if settings is not None:
        problems.extend(check_environment(documents[paths[0]], env_name, settings))
        for path in city_paths.values():
            document = documents.get(path)
            if document is not None:
                built = _build_city(document, settings, env_name, inventory, problems)
                if built is not None:
                    cities.append(built)
        problems.extend(check_cities(cities, inventory))

    if any(p.severity is Severity.ERROR for p in problems) or settings is None:
        raise CatalogError(problems)
    return EnvironmentCatalog(
        name=env_name,
        directory=directory,
        settings=settings,
        inventory=inventory,
        cities={c.config.slug: c.config for c in sorted(cities, key=lambda c: c.config.slug)},
        warnings=sorted(problems),
    )
