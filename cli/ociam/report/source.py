"""Where the report's figures come from: a fresh offline render (``ociam.render.service``),
or one on disk."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ociam.catalog import CityConfig
from ociam.render.output import MANIFESTS_FILE, city_dir, read_render


@dataclass(frozen=True)
class RenderedSource:
    """One city's rendered objects and files (realm JSON)."""

    objects: tuple[dict[str, Any], ...]
    files: dict[str, str]


#: libyaml when available: the pure-Python parser takes most of a second per city
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_manifests(text: str) -> tuple[dict[str, Any], ...]:
    """The objects of a rendered ``manifests.yaml``."""
    return tuple(doc for doc in yaml.load_all(text, Loader=_Loader) if doc)


class MissingRender(LookupError):
    """A city of the catalog has no render in the directory given."""


def read_rendered(directory: Path, cities: Sequence[CityConfig]) -> dict[str, RenderedSource]:
    """Read ``<directory>/<env>/<city>/`` as ``ociam render --out <directory>`` wrote it."""
    found: dict[str, RenderedSource] = {}
    for city in cities:
        path = city_dir(directory, city.env, city.slug)
        files = read_render(path)
        if MANIFESTS_FILE not in files:
            raise MissingRender(
                f"{path / MANIFESTS_FILE}: missing; run `ociam render --env {city.env} --all "
                f"--out {directory}` first"
            )
        found[city.slug] = RenderedSource(load_manifests(files[MANIFESTS_FILE]), files)
    return found
