"""Shared helpers of the realm tests: every seed city, schema directory, lookups."""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

from ociam.catalog import ENVIRONMENTS, CityConfig, load_environment

ROOT = Path(__file__).resolve().parents[2]


def keycloak_schema_dir() -> Path:
    """As the brief fixes it: OCIAM_KEYCLOAK_SCHEMA_DIR, else ../shared/keycloak."""
    return Path(os.environ.get("OCIAM_KEYCLOAK_SCHEMA_DIR", ROOT.parent / "shared" / "keycloak"))


@cache
def all_cities() -> tuple[CityConfig, ...]:
    cities: list[CityConfig] = []
    for env in ENVIRONMENTS:
        catalog = load_environment(ROOT, env)
        cities.extend(catalog.cities[slug] for slug in sorted(catalog.cities))
    return tuple(cities)


def city(env: str, slug: str) -> CityConfig:
    return load_environment(ROOT, env).city(slug)


def by(items: list[dict[str, Any]], key: str, value: str) -> dict[str, Any]:
    found = [item for item in items if item.get(key) == value]
    assert len(found) == 1, f"expected one {key}={value}, found {len(found)}"
    return found[0]


def walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, scalar) in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from walk(item, f"{path}[{index}]")
    else:
        yield path, value
