"""Which stacks a change touches: ``--changed-since GIT_REF``.

The changed files are those that differ between the merge base of ``GIT_REF`` and
``HEAD`` and the working tree (committed, staged, unstaged and untracked: a pull
request's changes in CI, a developer's work in progress locally). Each file maps
to stacks by the first rule that matches it:

=============================================  ======================================
path                                           stacks
=============================================  ======================================
``inventories/<env>/hosts.yml``                none (Ansible only)
``stacks/city/Pulumi.<env>-<city>.yaml``,      that stack (its config and encrypted secrets)
``stacks/platform/Pulumi.<env>.yaml``
``inventories/<env>/group_vars/all.yml``       every city of ``<env>`` and its platform
``inventories/<env>/group_vars/<city>.yml``    that city (and ``<env>``'s platform when
                                               its Gateway lists city hostnames)
other ``inventories/**``                       none (Ansible only: host_vars, hub)
``stacks/platform/**``,                        every platform stack
``cli/ociam/components/platform*.py``
``stacks/city/**``, ``cli/ociam/components/**``  every city of every environment
``cli/ociam/profiles.py``, ``cli/ociam/realms/**``
``cli/ociam/catalog/**``, ``cli/ociam/engines/**``  every stack (cities and platforms)
``pyproject.toml`` (SDK and provider versions)
anything else (docs, tests, roles, playbooks,   none
CLI commands, render, .github)
=============================================  ======================================
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Literal

from ociam.engines.base import StackRef

EVERY_CITY = "every-city"
EVERY_PLATFORM = "every-platform"

#: (path prefix, what it affects), first match wins; a prefix ending in "/" is a folder
PROGRAM_CODE: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("stacks/platform/", (EVERY_PLATFORM,)),
    ("cli/ociam/components/platform", (EVERY_PLATFORM,)),
    ("stacks/city/", (EVERY_CITY,)),
    ("cli/ociam/components/", (EVERY_CITY,)),
    ("cli/ociam/profiles.py", (EVERY_CITY,)),
    ("cli/ociam/realms/", (EVERY_CITY,)),
    ("cli/ociam/catalog/", (EVERY_CITY, EVERY_PLATFORM)),
    ("cli/ociam/engines/", (EVERY_CITY, EVERY_PLATFORM)),
    ("pyproject.toml", (EVERY_CITY, EVERY_PLATFORM)),
)


class GitError(Exception):
    """git could not answer (not a checkout, unknown ref); the message says which."""


def git_output(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, check=False, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GitError(f"git {' '.join(args)}: {exc}") from exc
    if done.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def changed_files(root: Path, ref: str) -> list[str]:
    """Paths (relative, ``/``-separated) changed since the merge base of ``ref`` and HEAD,
    including uncommitted and untracked files; a rename counts as both paths."""
    base = git_output(root, "merge-base", ref, "HEAD").strip()
    tracked = git_output(root, "diff", "--name-only", "--no-renames", base, "--", ".")
    untracked = git_output(root, "ls-files", "--others", "--exclude-standard")
    prefix = git_output(root, "rev-parse", "--show-prefix").strip()
    paths = {line for line in (tracked + untracked).splitlines() if line}
    if prefix:  # the checkout is a subfolder of the git repository
        paths = {p.removeprefix(prefix) for p in paths if p.startswith(prefix)}
    return sorted(paths)


@dataclass
class AffectedStacks:
    """The stacks a change touches, each with the changed paths that touch it."""

    reasons: dict[StackRef, list[str]] = field(default_factory=dict)
    #: city files deleted by the change: their stacks are not previewed (destroy them)
    removed: list[StackRef] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)

    def add(self, stack: StackRef, path: str) -> None:
        paths = self.reasons.setdefault(stack, [])
        if path not in paths:
            paths.append(path)

    @property
    def stacks(self) -> list[StackRef]:
        return sorted(self.reasons)


def affected_stacks(
    paths: Iterable[str],
    cities: Callable[[str], list[str]],
    platform_lists_cities: Callable[[str], bool],
    environments: Iterable[str],
) -> AffectedStacks:
    """Map changed paths to stacks. ``cities(env)`` lists an environment's cities;
    ``platform_lists_cities(env)`` says whether its platform stack reads city files."""
    envs = list(environments)
    affected = AffectedStacks()
    for path in paths:
        parts = PurePosixPath(path).parts
        if parts[:1] == ("inventories",):
            _inventory_path(
                path, parts, envs, cities=cities, lists=platform_lists_cities, affected=affected
            )
            continue
        config = _stack_config(parts, envs, cities)
        if config is not None:
            if config:
                affected.add(config, path)
            else:
                affected.ignored.append(path)
            continue
        for prefix, targets in PROGRAM_CODE:
            if path == prefix or (path.startswith(prefix) and prefix.endswith(("/", "platform"))):
                for env in envs:
                    if EVERY_CITY in targets:
                        for city in cities(env):
                            affected.add(StackRef(env, city), path)
                    if EVERY_PLATFORM in targets:
                        affected.add(StackRef.platform(env), path)
                break
        else:
            affected.ignored.append(path)
    return affected


def _stack_config(
    parts: tuple[str, ...], envs: list[str], cities: Callable[[str], list[str]]
) -> StackRef | Literal[False] | None:
    """A stack's config file (``stacks/city/Pulumi.<env>-<city>.yaml``,
    ``stacks/platform/Pulumi.<env>.yaml``: its config and encrypted secrets) touches
    that stack only; False for one of a stack this run does not look at; None when the
    path is no stack config file."""
    if len(parts) != 3 or parts[0] != "stacks":
        return None
    name = PurePosixPath(parts[2])
    if not name.name.startswith("Pulumi.") or name.suffix not in {".yaml", ".yml"}:
        return None
    stack = name.stem.removeprefix("Pulumi.")
    if stack == name.stem:  # Pulumi.yaml: the project file is program code
        return None
    if parts[1] == "platform":
        return StackRef.platform(stack) if stack in envs else False
    env, _, city = stack.partition("-")
    if parts[1] == "city" and env in envs and city in cities(env):
        return StackRef(env, city)
    return False


def _inventory_path(
    path: str,
    parts: tuple[str, ...],
    envs: list[str],
    *,
    cities: Callable[[str], list[str]],
    lists: Callable[[str], bool],
    affected: AffectedStacks,
) -> None:
    if len(parts) != 4 or parts[1] not in envs or parts[2] != "group_vars":
        affected.ignored.append(path)  # hosts.yml, host_vars/: Ansible only
        return
    env, name = parts[1], PurePosixPath(parts[3])
    if name.suffix not in {".yml", ".yaml"}:
        affected.ignored.append(path)
        return
    if name.stem == "all":
        for city in cities(env):
            affected.add(StackRef(env, city), path)
        affected.add(StackRef.platform(env), path)
    elif name.stem in cities(env):
        affected.add(StackRef(env, name.stem), path)
        if lists(env):
            affected.add(StackRef.platform(env), path)
    else:  # a deleted city file, or a group file that is not a city (e.g. hub.yml)
        ref = StackRef(env, name.stem)
        if ref not in affected.removed:
            affected.removed.append(ref)
