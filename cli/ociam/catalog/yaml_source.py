"""Read catalog YAML the way Ansible does, but keep line numbers and refuse ambiguity.

PyYAML silently keeps the last of two duplicate keys; Ansible only warns. In a
catalog that decides who may log in, a duplicate key is a mistake, so it is
an error here. Every scalar, mapping and sequence keeps the line it started on,
so that a pydantic error location can be turned into ``file:line``.

Catalog files come from pull requests, so the reader is also a gate, refusing
in bounded time and memory, with the line, what no catalog file needs:

- anything over :data:`MAX_FILE_BYTES`, scalars over :data:`MAX_SCALAR_CHARS`,
  nesting deeper than :data:`MAX_DEPTH`, mappings of more than :data:`MAX_KEYS` keys;
- anchors and aliases (``&a``/``*a``: nested aliases expand to billions of
  nodes for anything that walks the data) and merge keys (``<<``: Ansible's
  loader and this one would not resolve them and duplicate keys alike);
- explicit tags (``!!binary``, ``!!python/...``, Ansible's ``!unsafe`` and
  ``!vault``): a catalog value is plain data both readers see the same;
- Jinja (``{{``, ``{%``, ``{#``) in any value or key: Ansible templates it, ociam
  would read the text;
- NUL bytes, a byte-order mark, bytes that are not UTF-8.
"""

from __future__ import annotations

import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ociam.catalog.errors import CatalogError, Problem

FieldPath = tuple[str | int, ...]

#: about 20 times the largest real city file (3.4 KB) or environment defaults; it
#: bounds the time a file takes to parse and check (the reader is pure Python)
MAX_FILE_BYTES = 64 * 1024
#: room for a CA certificate chain, not for a pasted binary
MAX_SCALAR_CHARS = 16 * 1024
#: the catalog model nests about six levels deep
MAX_DEPTH = 32
#: keys of one mapping: the model's widest has a few dozen (and lists hold at most 256);
#: refused while reading, before the model would check thousands of unknown keys one by one
MAX_KEYS = 256
MERGE_TAG = "tag:yaml.org,2002:merge"
#: Ansible templates any string holding these; ociam would keep the literal text
JINJA_MARKERS = ("{{", "{%", "{#")


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


def _refuse(reason: str, mark: Any) -> yaml.composer.ComposerError:
    return yaml.composer.ComposerError(None, None, reason, mark)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, anchors, aliases, merge keys and tags,
    and bounds nesting and scalar size while the document is composed."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            raise _refuse(
                f"alias *{event.anchor}: anchors and aliases are not allowed in catalog "
                "files (write the value out)",
                event.start_mark,
            )
        anchor = getattr(event, "anchor", None)
        if anchor is not None:
            raise _refuse(
                f"anchor &{anchor}: anchors and aliases are not allowed in catalog files",
                event.start_mark,
            )
        tag = getattr(event, "tag", None)
        if tag is not None and tag != "!":
            if tag == "!vault":
                reason = (
                    "inline '!vault' values are not allowed in the catalog; secrets are "
                    "references ({pulumi_secret: KEY}) or live in a separate vault file"
                )
            else:
                reason = f"YAML tag {tag} is not allowed in catalog files (plain values only)"
            raise _refuse(reason, event.start_mark)
        if isinstance(event, yaml.ScalarEvent) and len(event.value) > MAX_SCALAR_CHARS:
            raise _refuse(
                f"a value of {len(event.value)} characters; catalog values are limited to "
                f"{MAX_SCALAR_CHARS}",
                event.start_mark,
            )
        if isinstance(event, yaml.ScalarEvent):
            jinja = next((m for m in JINJA_MARKERS if m in event.value), None)
            if jinja is not None:
                raise _refuse(
                    f"'{jinja}' starts a Jinja template: Ansible would evaluate it and read "
                    "a different value than ociam; catalog values are plain text",
                    event.start_mark,
                )
        if isinstance(parent, yaml.MappingNode) and index is None and len(parent.value) >= MAX_KEYS:
            raise _refuse(
                f"more than {MAX_KEYS} keys in one mapping; catalog mappings have at most "
                f"{MAX_KEYS}",
                event.start_mark,
            )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _refuse(
                    f"nested deeper than {MAX_DEPTH} levels; no catalog file needs that",
                    event.start_mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _construct_mapping(loader: _Loader, node: yaml.MappingNode, deep: bool = False) -> Any:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        if key_node.tag == MERGE_TAG:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                "merge keys (<<) are not allowed in catalog files: Ansible and ociam "
                "would not read them the same (write the keys out)",
                key_node.start_mark,
            )
        if not isinstance(key_node, yaml.ScalarNode):
            kind = "list" if isinstance(key_node, yaml.SequenceNode) else "mapping"
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"a {kind} used as a mapping key: catalog keys are plain names",
                key_node.start_mark,
            )
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


def _line_at(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _check_text(text: str, path: Path) -> None:
    if text.startswith("\ufeff"):
        raise CatalogError(
            [Problem(path, "", "starts with a byte-order mark; save it as UTF-8 without BOM", 1)]
        )
    nul = text.find("\0")
    if nul >= 0:
        raise CatalogError(
            [Problem(path, "", "contains a NUL byte: not a text file", _line_at(text, nul))]
        )
    if len(text.encode("utf-8")) > MAX_FILE_BYTES:
        raise CatalogError([_too_large(path, len(text.encode("utf-8")))])


def _too_large(path: Path, size: int) -> Problem:
    return Problem(
        path,
        "",
        f"is {size} bytes; catalog files are limited to {MAX_FILE_BYTES} bytes (real city "
        "files are a few KB; the limit keeps validating every pull request fast)",
    )


def parse_yaml(text: str, path: Path) -> YamlDocument:
    """Parse ``text`` (the contents of ``path``); raise CatalogError naming the line."""
    _check_text(text, path)
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
        raise CatalogError([Problem(path, "", f"invalid YAML: {reason}", line)]) from exc
    except yaml.reader.ReaderError as exc:
        reason = f"character #x{exc.character:04x} is not allowed in YAML"
        line = _line_at(text, exc.position)
        raise CatalogError([Problem(path, "", f"invalid YAML: {reason}", line)]) from exc
    except yaml.YAMLError as exc:
        raise CatalogError([Problem(path, "", f"invalid YAML: {exc}")]) from exc
    lines: dict[FieldPath, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return YamlDocument(path=path, data=data, lines=lines)


def read_yaml(path: Path) -> YamlDocument:
    """Read and parse one catalog file (at most :data:`MAX_FILE_BYTES` are read)."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise CatalogError([Problem(path, "", "is a directory, not a file")])
        if not stat.S_ISREG(mode):
            # a FIFO or device would block or never end: only regular files are read
            raise CatalogError([Problem(path, "", "is not a regular file")])
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
            if len(raw) > MAX_FILE_BYTES:
                size = path.stat().st_size
                raise CatalogError([_too_large(path, max(size, len(raw)))])
    except FileNotFoundError as exc:
        raise CatalogError([Problem(path, "", "file not found")]) from exc
    except IsADirectoryError as exc:
        raise CatalogError([Problem(path, "", "is a directory, not a file")]) from exc
    except OSError as exc:
        raise CatalogError([Problem(path, "", f"cannot read: {exc.strerror}")]) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        reason = f"not UTF-8 text: byte 0x{raw[exc.start]:02x} cannot be decoded"
        raise CatalogError([Problem(path, "", reason, line)]) from exc
    return parse_yaml(text, path)
