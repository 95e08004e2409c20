"""Mutations of the real seed files, for fuzzing the loader and the CLI with hypothesis.

Shared by tests/catalog/test_fuzz_catalog.py (a fixed budget in CI) and
bench/fuzz_catalog.py (a larger one, and timings). A mutation drops, duplicates,
retypes or re-nests keys, swaps values between fields, repeats a list many times, or
truncates the file at a byte; every outcome must be a valid catalog or exit 2 with
``file:line: reason``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
SEEDS = (
    "dev/group_vars/demo.yml",
    "dev/group_vars/all.yml",
    "dev/hosts.yml",
    "prod/group_vars/pori.yml",
    "prod/group_vars/porvoo.yml",
)
#: what a value may be retyped to
REPLACEMENTS: tuple[Any, ...] = (
    None,
    0,
    -1,
    3.5,
    True,
    "",
    "x",
    "ldaps://example.invalid:636",
    "10.0.0.0/8",
    [],
    ["a", "b"],
    {},
    {"unexpected": 1},
    "ä" * 300,
)
#: how many times a list is repeated: a little, past the model's item limit, and past
#: the file size limit for lists of mappings (once, they made validate run for minutes)
GROWTH = (2, 20, 300)
#: a problem line: file, line, then the reason
PROBLEM_LINE = re.compile(
    r"^inventories/[^:\s]+(:\d+: \S.*"
    # the two problems of a whole file, which have no line
    r"|: (is \d+ bytes; catalog files are limited to|\.\.\. and \d+ more problems).*)$"
)
SUMMARY_LINE = re.compile(r"^(dev|staging|prod): ")


@dataclass(frozen=True)
class Mutation:
    """One file of the catalog replaced by ``content``."""

    target: str
    content: bytes
    description: str

    def apply(self, root: Path) -> None:
        (root / "inventories" / self.target).write_bytes(self.content)

    @property
    def env(self) -> str:
        return self.target.split("/", 1)[0]


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path below ``node`` (mapping keys and list indexes)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from _paths(value, (*prefix, index))


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for part in path:
        node = node[part]
    return node


def _set(node: Any, path: tuple[Any, ...], value: Any) -> None:
    _get(node, path[:-1])[path[-1]] = value


def _delete(node: Any, path: tuple[Any, ...]) -> None:
    del _get(node, path[:-1])[path[-1]]


def _dump(data: Any) -> bytes:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True).encode()


@st.composite
def mutations(draw: st.DrawFn) -> Mutation:
    target = draw(st.sampled_from(SEEDS))
    raw = (ROOT / "inventories" / target).read_bytes()
    kind = draw(
        st.sampled_from(
            ["drop", "duplicate", "retype", "renest", "swap", "truncate", "lines", "grow"]
        )
    )
    if kind == "truncate":
        cut = draw(st.integers(0, len(raw)))
        return Mutation(target, raw[:cut], f"truncated at byte {cut}")
    lines = raw.decode().splitlines(keepends=True)
    if kind == "duplicate":
        index = draw(st.integers(0, len(lines) - 1))
        mutated = [*lines[: index + 1], *lines[index:]]
        return Mutation(target, "".join(mutated).encode(), f"line {index + 1} twice")
    if kind == "lines":
        start = draw(st.integers(0, len(lines) - 1))
        end = draw(st.integers(start, min(len(lines), start + 5)))
        mutated = [*lines[:start], *lines[end:]]
        return Mutation(target, "".join(mutated).encode(), f"lines {start + 1}-{end} removed")
    data = yaml.safe_load(raw)
    paths = list(_paths(data))
    data = copy.deepcopy(data)
    path = draw(st.sampled_from(paths))
    if kind == "drop":
        _delete(data, path)
        return Mutation(target, _dump(data), f"dropped {path}")
    if kind == "grow":
        lists = [p for p in paths if isinstance(_get(data, p), list) and _get(data, p)]
        if not lists:
            return Mutation(target, _dump(data), "no list to grow")
        grown = draw(st.sampled_from(lists))
        factor = draw(st.sampled_from(GROWTH))
        _set(data, grown, _get(data, grown) * factor)
        return Mutation(target, _dump(data), f"{grown} repeated {factor} times")
    if kind == "retype":
        value = draw(st.sampled_from(REPLACEMENTS))
        _set(data, path, value)
        return Mutation(target, _dump(data), f"{path} = {value!r}")
    other = draw(st.sampled_from(paths))
    if kind == "swap":
        if path[: len(other)] == other or other[: len(path)] == path:
            return Mutation(target, _dump(data), "swap of nested paths skipped")
        first, second = _get(data, path), _get(data, other)
        _set(data, path, second)
        _set(data, other, first)
        return Mutation(target, _dump(data), f"swapped {path} and {other}")
    # renest: move the value at `path` into the mapping at `other` (or its parent)
    holder = _get(data, other) if isinstance(_get(data, other), dict) else None
    if holder is None or other[: len(path)] == path:
        return Mutation(target, _dump(data), "renest onto a non-mapping skipped")
    value = _get(data, path)
    _delete(data, path)
    holder[f"moved_{path[-1]}"] = value
    return Mutation(target, _dump(data), f"moved {path} under {other}")


def check_validate_output(exit_code: int, stdout: str, stderr: str) -> list[str]:
    """What is wrong with what ``ociam validate`` said (empty: it is as documented)."""
    problems = []
    if exit_code not in (0, 2):
        problems.append(f"exit code {exit_code}")
    if "Traceback" in stderr or "Traceback" in stdout:
        problems.append("a traceback")
    if exit_code == 2:
        lines = [line for line in stderr.splitlines() if line.strip()]
        odd = [
            line
            for line in lines
            if not PROBLEM_LINE.match(line)
            and not SUMMARY_LINE.match(line)
            and not line.startswith("  ")
        ]
        if odd:
            problems.append(f"lines not 'file:line: reason': {odd[:3]}")
        if not any(PROBLEM_LINE.match(line) for line in lines):
            problems.append("no problem line")
    return problems
