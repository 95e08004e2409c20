"""Helpers of the city stack tests: throwaway checkouts, renders, object lookup."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import yaml

from ociam.catalog import ENVIRONMENTS, load_environment
from ociam.engines.offline import OfflineEngine
from ociam.render.service import RenderedCity, render_city

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def make_checkout(target: Path) -> Path:
    """A copy of the catalog and the city program that a test may change, with the
    shared data (CRDs, realm schema) beside it as beside the real checkout."""
    target.mkdir(parents=True, exist_ok=True)
    shared = PROJECT_ROOT.parent / "shared"
    if shared.is_dir() and not (target.parent / "shared").exists():
        (target.parent / "shared").symlink_to(shared)
    shutil.copytree(PROJECT_ROOT / "inventories", target / "inventories")
    shutil.copytree(PROJECT_ROOT / "stacks", target / "stacks")
    shutil.copy2(PROJECT_ROOT / "pyproject.toml", target / "pyproject.toml")
    return target


def edit_yaml(path: Path, change: Callable[[dict[str, Any]], None]) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")


def render(root: Path, env: str, city: str) -> RenderedCity:
    return render_city(OfflineEngine(root), load_environment(root, env).city(city))


def all_stacks(root: Path = PROJECT_ROOT) -> Iterator[tuple[str, str]]:
    for env in ENVIRONMENTS:
        for slug in load_environment(root, env).cities:
            yield env, slug


def objects_of(rendered: RenderedCity, kind: str) -> list[dict[str, Any]]:
    return [obj for obj in rendered.objects if obj["kind"] == kind]


def one(rendered: RenderedCity, kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects_of(rendered, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def container(rendered: RenderedCity, name: str = "keycloak") -> dict[str, Any]:
    sts = one(rendered, "StatefulSet", "keycloak")
    spec = sts["spec"]["template"]["spec"]
    found = [c for c in spec["containers"] + spec.get("initContainers", []) if c["name"] == name]
    assert len(found) == 1
    return found[0]


def env_of(c: dict[str, Any]) -> dict[str, Any]:
    """A container's environment: name -> value, or the valueFrom mapping."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in c.get("env", [])}


def pod_templates(rendered: RenderedCity) -> list[tuple[str, dict[str, Any]]]:
    """(object id, pod template spec) of every workload in the render."""
    found = []
    for obj in rendered.objects:
        kind = obj["kind"]
        spec = obj.get("spec", {})
        if kind in {"StatefulSet", "Deployment", "DaemonSet", "ReplicaSet", "Job"}:
            found.append((f"{kind}/{obj['metadata']['name']}", spec["template"]["spec"]))
        elif kind == "CronJob":
            template = spec["jobTemplate"]["spec"]["template"]["spec"]
            found.append((f"{kind}/{obj['metadata']['name']}", template))
        elif kind == "Pod":
            found.append((f"Pod/{obj['metadata']['name']}", spec))
    return found
