"""Read catalog YAML the way Ansible does, but keep line numbers and refuse ambiguity.

PyYAML silently keeps the last of two duplicate keys; Ansible only warns. In a
catalog that decides who may log in, a duplicate key is a mistake, so it is
an error here. Every scalar, mapping and sequence keeps the line it started on,
so that a pydantic error location can be turned into ``file:line``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ociam.catalog.errors import CatalogError, Problem

FieldPath = tuple[str | int, ...]


@dataclass
class YamlDocument:
    """The parsed data of one YAML file and the line of every node in it."""

    path: Path
    data: Any
    lines: dict[FieldPath, int] = field(default_factory=dict)

    def line_of(self, loc: FieldPath) -> int | None:
        """Line of the deepest node along ``loc`` that exists in the file.

        A top-level key that is missing has no line (the document's first line
        would only mislead); the empty path is the document itself.
        """
        for end in range(len(loc), 0 if loc else -1, -1):
            line = self.lines.get(loc[:end])
            if line is not None:
                return line
        return None


class _Loader(yaml.SafeLoader):
    """SafeLoader that errors on duplicate keys."""


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=True)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first defined on line {seen[key] + 1})",
                key_node.start_mark,
            )
        seen[key] = key_node.start_mark.line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


_Loader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


def _record_lines(node: yaml.Node, path: FieldPath, lines: dict[FieldPath, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = (*path, key_node.value)
                _record_lines(value_node, child, lines)
                # point at the key, not at a value that may start on the next line
                lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*path, index), lines)


def parse_yaml(text: str, path: Path) -> YamlDocument:
    """Parse ``text`` (the contents of ``path``); raise CatalogError naming the line."""
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        reason = " ".join(part for part in (exc.context, exc.problem) if part)
        if exc.problem and "!vault" in exc.problem:
            reason = (
                "inline '!vault' values are not allowed in the catalog; secrets are "
                "references ({pulumi_secret: KEY}) or live in a separate vault file"
            )
        raise CatalogError([Problem(path, "", f"invalid YAML: {reason}", line)]) from exc
    except yaml.YAMLError as exc:
        raise CatalogError([Problem(path, "", f"invalid YAML: {exc}")]) from exc
    lines: dict[FieldPath, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return YamlDocument(path=path, data=data, lines=lines)


def read_yaml(path: Path) -> YamlDocument:
    """Read and parse one catalog file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise CatalogError([Problem(path, "", "file not found")]) from exc
    except UnicodeDecodeError as exc:
        raise CatalogError([Problem(path, "", f"not UTF-8 text: {exc.reason}")]) from exc
    except OSError as exc:
        raise CatalogError([Problem(path, "", f"cannot read: {exc.strerror}")]) from exc
    return parse_yaml(text, path)
