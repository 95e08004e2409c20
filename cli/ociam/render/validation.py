"""Strict validation of rendered manifests, with no API server.

* Built-in kinds: the Kubernetes OpenAPI schemas shipped by kubernetes-validate,
  its *strict* variant (unknown fields are errors), at the environment's
  Kubernetes version.
* Custom resources: the ``openAPIV3Schema`` of the CRD from ``OCIAM_CRD_DIR``,
  made strict the way the API server prunes (an object schema with properties
  and without ``x-kubernetes-preserve-unknown-fields`` accepts no other field);
  ``metadata`` against the strict ObjectMeta schema.
* A kind with neither is an error, never a skip.

CEL rules (``x-kubernetes-validations``) need an API server and are not run.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from referencing import Registry, Resource

CRD_DIR_ENV = "OCIAM_CRD_DIR"
_DEFINITIONS_ID = "https://kubernetes.io/api/_definitions.json"
_OBJECT_META = {"$ref": f"{_DEFINITIONS_ID}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}


def default_crd_dir(root: Path) -> Path:
    """``OCIAM_CRD_DIR``, else ``../shared/crds`` next to the checkout."""
    value = os.environ.get(CRD_DIR_ENV)
    return Path(value) if value else root.parent / "shared" / "crds"


@dataclass(frozen=True, order=True)
class ManifestProblem:
    """One reason a rendered object is invalid."""

    object: str
    path: str
    message: str

    def render(self) -> str:
        where = f" at {self.path}" if self.path else ""
        return f"{self.object}{where}: {self.message}"


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def _schema_dir(version: str) -> Path:
    # imported here: kubernetes-validate is needed to validate, not to render or preview
    import kubernetes_validate  # noqa: PLC0415
    from kubernetes_validate import utils  # noqa: PLC0415

    wanted = tuple(int(p) for p in version.split(".")[:2])
    available = [
        v for v in utils.all_versions() if tuple(int(p) for p in v.split(".")[:2]) <= wanted
    ]
    if not available:
        raise ValueError(f"kubernetes-validate has no schemas for Kubernetes {version}")
    base = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    return base / f"v{available[-1]}-local-strict"


@cache
def _registry(schema_dir: Path) -> Registry:
    definitions = json.loads((schema_dir / "_definitions.json").read_text(encoding="utf-8"))
    return Resource.from_contents(definitions) @ Registry()


def _strict(schema: Any) -> Any:
    """A CRD schema with unknown fields forbidden wherever the API server would prune them."""
    if isinstance(schema, dict):
        result = {key: _strict(value) for key, value in schema.items()}
        if (
            "properties" in result
            and "additionalProperties" not in result
            and not result.get("x-kubernetes-preserve-unknown-fields")
        ):
            result["additionalProperties"] = False
        return result
    if isinstance(schema, list):
        return [_strict(item) for item in schema]
    return schema


@dataclass(frozen=True)
class _Crd:
    group: str
    kind: str
    versions: dict[str, dict[str, Any]]


@cache
def _load_crds(crd_dir: Path) -> dict[tuple[str, str], _Crd]:
    if not crd_dir.is_dir():
        raise ValueError(
            f"CRD directory {crd_dir} does not exist; set {CRD_DIR_ENV} (see docs/stack.md)"
        )
    crds: dict[tuple[str, str], _Crd] = {}
    for path in sorted(crd_dir.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            versions = {
                v["name"]: _strict(copy.deepcopy(v["schema"]["openAPIV3Schema"]))
                for v in spec["versions"]
                if v.get("served", True) and "schema" in v
            }
            crds[(spec["group"], spec["names"]["kind"])] = _Crd(
                spec["group"], spec["names"]["kind"], versions
            )
    return crds


def _problems(
    validator: jsonschema.protocols.Validator, instance: Any, name: str, prefix: str = ""
) -> list[ManifestProblem]:
    found = []
    for error in validator.iter_errors(instance):
        path = ".".join(str(p) for p in error.absolute_path)
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        found.append(ManifestProblem(name, path, error.message))
    return sorted(found)


class ManifestValidator:
    """Validates objects for one Kubernetes version against one CRD directory."""

    def __init__(self, kubernetes_version: str, crd_dir: Path) -> None:
        self.version = kubernetes_version
        self.schema_dir = _schema_dir(kubernetes_version)
        self.crds = _load_crds(crd_dir.resolve())
        self._validators: dict[tuple[str, str], jsonschema.protocols.Validator | None] = {}

    def _builtin(self, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
        group, _, version = api_version.rpartition("/")
        short = group.split(".")[0] if group else ""
        stem = f"{kind.lower()}-{short}-{version}" if short else f"{kind.lower()}-{version}"
        path = self.schema_dir / f"{stem}.json"
        if not path.is_file():
            return None
        schema = json.loads(path.read_text(encoding="utf-8"))
        return jsonschema.Draft202012Validator(schema, registry=_registry(self.schema_dir))

    def _custom(self, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
        group, _, version = api_version.rpartition("/")
        crd = self.crds.get((group, kind))
        if crd is None or version not in crd.versions:
            return None
        schema = dict(crd.versions[version])
        properties = dict(schema.get("properties", {}))
        properties["metadata"] = _OBJECT_META
        schema["properties"] = properties
        schema["additionalProperties"] = False
        schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata"})
        return jsonschema.Draft202012Validator(schema, registry=_registry(self.schema_dir))

    def validator(self, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
        key = (api_version, kind)
        if key not in self._validators:
            group = api_version.rpartition("/")[0]
            is_custom = any(g == group for g, _ in self.crds)
            self._validators[key] = (
                self._custom(api_version, kind) if is_custom else self._builtin(api_version, kind)
            )
        return self._validators[key]

    def validate(self, obj: dict[str, Any]) -> list[ManifestProblem]:
        api_version, kind = str(obj.get("apiVersion", "")), str(obj.get("kind", ""))
        meta = obj.get("metadata") or {}
        name = f"{kind or '?'} {meta.get('namespace', '')}/{meta.get('name', '?')}".replace(
            " /", " "
        )
        if not api_version or not kind:
            return [ManifestProblem(name, "", "apiVersion and kind are required")]
        validator = self.validator(api_version, kind)
        if validator is None:
            return [
                ManifestProblem(
                    name,
                    "",
                    f"unknown kind {kind} ({api_version}): no Kubernetes {self.version} schema "
                    f"and no CRD in the CRD directory",
                )
            ]
        problems = _problems(validator, obj, name)
        if not meta.get("name"):
            problems.append(ManifestProblem(name, "metadata.name", "every object needs a name"))
        return problems

    def validate_all(self, objects: list[dict[str, Any]]) -> list[ManifestProblem]:
        return [problem for obj in objects for problem in self.validate(obj)]
