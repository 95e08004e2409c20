"""Render and validate cities: what the ``render``, ``preview`` and ``validate`` commands share."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ociam.catalog import CityConfig
from ociam.engines.base import PreviewResult, StackRef
from ociam.engines.offline import OfflineEngine
from ociam.realms.validate import document_problems, schema_dir
from ociam.render.manifests import manifests, object_id
from ociam.render.output import render_files
from ociam.render.validation import ManifestProblem, ManifestValidator


@dataclass(frozen=True)
class RenderedCity:
    """One city rendered: the engine's result, its objects and its files."""

    city: CityConfig
    result: PreviewResult
    objects: tuple[dict[str, Any], ...]
    files: dict[str, str]

    @property
    def stack(self) -> StackRef:
        return self.result.stack

    def kinds(self) -> dict[str, list[str]]:
        """Object ids by kind, in render order."""
        by_kind: dict[str, list[str]] = {}
        for obj in self.objects:
            by_kind.setdefault(str(obj.get("kind")), []).append(object_id(obj))
        return by_kind


def render_city(engine: OfflineEngine, city: CityConfig) -> RenderedCity:
    result = engine.preview(StackRef(city.env, city.slug))
    return RenderedCity(city, result, tuple(manifests(result)), render_files(result))


class Validators:
    """One ManifestValidator per Kubernetes version, sharing the CRD directory."""

    def __init__(self, crd_dir: Path) -> None:
        self.crd_dir = crd_dir
        self._by_version: dict[str, ManifestValidator] = {}

    def validate(self, rendered: RenderedCity) -> list[ManifestProblem]:
        version = rendered.city.settings.kubernetes_version
        if version not in self._by_version:
            self._by_version[version] = ManifestValidator(version, self.crd_dir)
        return self._by_version[version].validate_all(list(rendered.objects))


def validate_rendered(
    root: Path, cities: list[CityConfig], crd_dir: Path
) -> list[tuple[str, ManifestProblem]]:
    """Render each city offline and validate every object; (stack, problem) pairs.

    Raises EngineError when a city cannot be rendered, ValueError when the CRD
    directory is missing.
    """
    engine = OfflineEngine(root)
    validators = Validators(crd_dir)
    found: list[tuple[str, ManifestProblem]] = []
    for city in cities:
        rendered = render_city(engine, city)
        found.extend((rendered.stack.name, p) for p in validators.validate(rendered))
        for path, content in rendered.files.items():
            if path.startswith("realm-") and path.endswith(".json"):
                # strict Keycloak 26 realm schema (../shared/keycloak) and no clear secret
                for message in document_problems(json.loads(content), schema_dir(root)):
                    target, _, reason = message.partition(": ")
                    found.append((rendered.stack.name, ManifestProblem(path, target, reason)))
    return found
