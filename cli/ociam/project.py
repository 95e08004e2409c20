"""Find the ociam checkout (inventories, stacks, playbooks) the CLI works on."""

from __future__ import annotations

import os
from pathlib import Path

ROOT_ENV_VAR = "OCIAM_ROOT"


class ProjectNotFoundError(Exception):
    """No ociam checkout found; the message says how to point at one."""


def is_project_root(path: Path) -> bool:
    return (path / "inventories").is_dir() and (path / "pyproject.toml").is_file()


def _package_checkout() -> Path | None:
    """The checkout this package was installed from in editable mode, if any."""
    candidate = Path(__file__).resolve().parents[2]
    return candidate if is_project_root(candidate) else None


def find_project_root(explicit: Path | None = None, start: Path | None = None) -> Path:
    """``--root`` first, then ``OCIAM_ROOT``, then the nearest parent of ``start`` (cwd)
    holding ``inventories/`` and ``pyproject.toml``, then the editable checkout."""
    for source, value in (("--root", explicit), (ROOT_ENV_VAR, os.environ.get(ROOT_ENV_VAR))):
        if value:
            path = Path(value).expanduser().resolve()
            if not is_project_root(path):
                raise ProjectNotFoundError(
                    f"{source} {path} is not an ociam checkout (no inventories/ and pyproject.toml)"
                )
            return path
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if is_project_root(candidate):
            return candidate
    checkout = _package_checkout()
    if checkout is not None:
        return checkout
    raise ProjectNotFoundError(
        f"{here} is not inside an ociam checkout; run from the checkout, "
        f"pass --root DIR or set {ROOT_ENV_VAR}"
    )
