"""Write a city's render to disk and compare it with a previous one.

Layout: ``<out>/<env>/<city>/manifests.yaml`` plus the artifacts the program
published (for example ``realms/<realm>.json``), each at its relative path.
A city's directory belongs to the render: it is replaced whole, atomically.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path

import yaml

from ociam.engines.base import PreviewResult
from ociam.fileio import replace_tree
from ociam.render.manifests import dump, load, manifests, object_id

MANIFESTS_FILE = "manifests.yaml"


def city_dir(out: Path, env: str, city: str) -> Path:
    return out / env / city


def render_files(result: PreviewResult) -> dict[str, str]:
    """Relative path → content of every file of a city's render."""
    files = {MANIFESTS_FILE: dump(manifests(result), result.stack.name)}
    for artifact in result.artifacts:
        if artifact.path in files:
            raise ValueError(f"artifact {artifact.path} collides with another file")
        files[artifact.path] = artifact.content
    return dict(sorted(files.items()))


def write_render(files: dict[str, str], directory: Path) -> list[Path]:
    """Replace ``directory`` with exactly these files, atomically (the old render or the
    new one, whenever the process stops)."""
    replace_tree(directory, files)
    return [directory / relative for relative in files]


def read_render(directory: Path) -> dict[str, str]:
    if not directory.is_dir():
        return {}
    return {
        p.relative_to(directory).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(directory.rglob("*"))
        if p.is_file()
    }


@dataclass(frozen=True)
class RenderDiff:
    """What changed between a previous render and this one."""

    added: tuple[str, ...]
    removed: tuple[str, ...]
    changed: tuple[str, ...]
    text: str

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _objects(text: str) -> dict[str, str]:
    return {
        object_id(obj): yaml.safe_dump(obj, sort_keys=True, default_flow_style=False, width=10_000)
        for obj in load(text)
    }


def diff_render(previous: dict[str, str], current: dict[str, str], label: str) -> RenderDiff:
    """Object-level diff of the manifests, file-level diff of the artifacts."""
    before = _objects(previous.get(MANIFESTS_FILE, ""))
    after = _objects(current.get(MANIFESTS_FILE, ""))
    for path in sorted(set(previous) | set(current)):
        if path != MANIFESTS_FILE:
            key = f"file {path}"
            if path in previous:
                before[key] = previous[path]
            if path in current:
                after[key] = current[path]
    added = tuple(sorted(set(after) - set(before)))
    removed = tuple(sorted(set(before) - set(after)))
    changed = tuple(sorted(k for k in set(before) & set(after) if before[k] != after[k]))
    chunks: list[str] = []
    for key in sorted(set(added) | set(removed) | set(changed)):
        chunks.extend(
            difflib.unified_diff(
                before.get(key, "").splitlines(keepends=True),
                after.get(key, "").splitlines(keepends=True),
                fromfile=f"a/{label}: {key}",
                tofile=f"b/{label}: {key}",
            )
        )
    text = "".join(line if line.endswith("\n") else line + "\n" for line in chunks)
    return RenderDiff(added=added, removed=removed, changed=changed, text=text)
