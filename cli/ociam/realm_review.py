"""The realm changes of ``--changed-since REF``: offline renders of both revisions, compared.

The base (the merge base of ``REF`` and HEAD, as :mod:`ociam.changes` uses) is taken
out of git with ``git archive`` into a temporary directory and rendered by its own code
when it carries the package (``cli/``), so a change to the realm builders shows as what
it changes; the head is the working tree. Both are rendered by ``python -m ociam
render`` in a process of their own: the offline engine runs the programs under mocks,
one at a time, and must not share a process with the real engine's threads.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ociam.changes import GitError, git_output
from ociam.engines.base import StackRef
from ociam.realm_diff import RealmChange, diff_realms

RENDER_TIMEOUT_SECONDS = 600
REALM_FILE_PREFIX = "realm-"


class ReviewError(Exception):
    """A revision could not be rendered; the message says which and why."""


@dataclass
class RealmReview:
    """What a change does to each city's realms, for the result lines and the summary."""

    changes: dict[StackRef, list[RealmChange]] = field(default_factory=dict)
    #: why some or all realm changes could not be computed
    notes: list[str] = field(default_factory=list)

    def lines(self, stack: StackRef) -> list[str]:
        return [change.line() for change in self.changes.get(stack, [])]

    def by_label(self) -> dict[str, list[str]]:
        return {stack.label: self.lines(stack) for stack in sorted(self.changes)}


def review(root: Path, ref: str, stacks: Iterable[StackRef]) -> RealmReview:
    """The realm changes since ``ref``, or a note saying why they are not shown."""
    try:
        return RealmReview(realm_changes(root, ref, stacks))
    except (GitError, ReviewError) as exc:
        return RealmReview(notes=[f"Realm changes not shown: {exc}"])


def realm_changes(
    root: Path, ref: str, stacks: Iterable[StackRef]
) -> dict[StackRef, list[RealmChange]]:
    """For each city stack, its realm changes from the merge base of ``ref`` to the
    working tree (stacks whose realms do not change map to an empty list)."""
    cities = sorted(s for s in stacks if not s.is_platform)
    if not cities:
        return {}
    base = git_output(root, "merge-base", ref, "HEAD").strip()
    with tempfile.TemporaryDirectory(prefix="ociam-review-") as scratch:
        base_root = Path(scratch) / "base"
        _extract(root, base, base_root)
        before = _render_realms(base_root, cities, Path(scratch) / "base-render")
        after = _render_realms(root, cities, Path(scratch) / "head-render")
    return {stack: diff_realms(before.get(stack, {}), after.get(stack, {})) for stack in cities}


def _extract(root: Path, commit: str, target: Path) -> None:
    prefix = git_output(root, "rev-parse", "--show-prefix").strip()
    tree = f"{commit}:{prefix.rstrip('/')}" if prefix else commit
    try:
        archive = subprocess.run(
            ["git", "archive", "--format=tar", tree],
            cwd=root,
            capture_output=True,
            check=True,
            timeout=120,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise GitError(f"git archive {tree}: {exc}") from exc
    target.mkdir(parents=True)
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")


def _render_realms(
    root: Path, cities: list[StackRef], out: Path
) -> dict[StackRef, dict[str, dict[str, Any]]]:
    """Realm JSON per city stack of one revision (a city absent there has none)."""
    environ = dict(os.environ)
    package = root / "cli"
    if (package / "ociam").is_dir():  # the revision's own code, not the installed one
        environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(package), environ.get("PYTHONPATH", "")) if p
        )
    realms: dict[StackRef, dict[str, dict[str, Any]]] = {}
    for env in sorted({s.env for s in cities}):
        present = _cities_of(root, env)
        # a city the change adds has no base render: every realm setting is new
        wanted = [s for s in cities if s.env == env and s.city in present]
        if len(wanted) > 1:  # one process for the environment beats one per city
            _render(root, env, ["--all"], out, environ)
        elif wanted:
            _render(root, env, ["--city", wanted[0].city], out, environ)
        for stack in wanted:
            directory = out / env / stack.city
            realms[stack] = {
                path.stem.removeprefix(REALM_FILE_PREFIX): json.loads(
                    path.read_text(encoding="utf-8")
                )
                for path in sorted(directory.glob(f"{REALM_FILE_PREFIX}*.json"))
            }
    return realms


def _cities_of(root: Path, env: str) -> set[str]:
    group_vars = root / "inventories" / env / "group_vars"
    return {p.stem for p in group_vars.glob("*.yml") if p.stem != "all"}


def _render(root: Path, env: str, selection: list[str], out: Path, environ: dict[str, str]) -> None:
    command = [sys.executable, "-m", "ociam", "render", "--root", str(root),
               "--env", env, *selection, "--out", str(out)]  # fmt: skip
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=RENDER_TIMEOUT_SECONDS,
            check=False,
            env=environ,
            cwd=root,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ReviewError(f"rendering {env} {' '.join(selection)} at {root.name}: {exc}") from exc
    if done.returncode != 0:
        reason = (done.stderr.strip() or done.stdout.strip()).splitlines()[-1:] or ["failed"]
        raise ReviewError(f"rendering {env} {' '.join(selection)} at {root.name}: {reason[0]}")
