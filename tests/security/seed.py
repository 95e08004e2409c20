"""The seed catalog's stacks and object lookup, for the security tier."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from ociam.catalog import ENVIRONMENTS, load_environment

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def all_stacks(root: Path = PROJECT_ROOT) -> Iterator[tuple[str, str]]:
    """(env, city) of every city of every environment."""
    for env in ENVIRONMENTS:
        for slug in sorted(load_environment(root, env).cities):
            yield env, slug


def objects_of(objects: Iterable[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]
