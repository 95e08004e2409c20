"""Add an item to, or remove one from, a top-level block list of a YAML file, in place.

The file is read with ruamel.yaml's round-trip loader, which knows where every
key and item stands; the change is spliced into the original text at those
lines, and the new item is written by ruamel.yaml in the list's own
indentation. Every byte outside the added or removed lines stays as it was
(comments, blank lines, quoting, flow-style values), which a re-dump of the
whole file cannot promise. The result is parsed again and must hold exactly the
old data with the one item added or removed, or nothing is returned.

Comments belong to what follows them: a comment block right above an item goes
with it when it is removed; blank lines and comments at the list's own
indentation after the last item head the next key, so a new item goes before them.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError


class EditError(ValueError):
    """The file cannot be edited in place (the message says why)."""


def _yaml() -> YAML:
    yaml = YAML(typ="rt")
    yaml.preserve_quotes = True
    yaml.width = 4096
    return yaml


def plain(value: Any) -> Any:
    """ruamel's round-trip types as plain dicts, lists and scalars (for comparing data)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return value


def load(text: str) -> CommentedMap:
    try:
        document = _yaml().load(text)
    except YAMLError as exc:
        raise EditError(f"not valid YAML: {exc}") from None
    if not isinstance(document, CommentedMap):
        raise EditError("the file is not a mapping of keys")
    return document


@dataclass(frozen=True)
class _Region:
    """Lines (0-based, end exclusive) of a top-level key and its value."""

    key_line: int
    end: int


def _region(document: CommentedMap, key: str, line_count: int) -> _Region:
    keys = list(document)
    start = document.lc.key(key)[0]
    later = [document.lc.key(k)[0] for k in keys[keys.index(key) + 1 :]]
    return _Region(start, min(later, default=line_count))


def _is_blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _content_end(lines: Sequence[str], start: int, end: int, column: int) -> int:
    """One past the last line of ``start..end`` that belongs to the value: trailing blank
    lines, and comments not indented past ``column``, belong to what follows."""
    while end > start and (
        not lines[end - 1].strip()
        or (lines[end - 1].lstrip().startswith("#") and _indent(lines[end - 1]) <= column)
    ):
        end -= 1
    return end


def _mapping_indent(document: CommentedMap) -> int:
    for key in document:
        value = document[key]
        if isinstance(value, CommentedMap) and len(value) and not value.fa.flow_style():
            return int(value.lc.col)
    return 2


def _list_layout(document: CommentedMap, lines: Sequence[str]) -> tuple[int, int]:
    """(dash column, item column) of the file's block lists (default: 2 and 4)."""
    for key in document:
        value = document[key]
        if isinstance(value, CommentedSeq) and len(value) and not value.fa.flow_style():
            line, column = value.lc.item(0)
            dash = lines[line].rfind("-", 0, column)
            if dash >= 0:
                return dash, column
    return 2, 4


def _render_item(key: str, item: Any, document: CommentedMap, lines: Sequence[str]) -> list[str]:
    """The item as ruamel.yaml writes it as the first entry of ``key`` in this file's layout."""
    dash, column = _list_layout(document, lines)
    yaml = _yaml()
    yaml.indent(mapping=_mapping_indent(document), sequence=column, offset=dash)
    stream = io.StringIO()
    yaml.dump({key: [item]}, stream)
    rendered = stream.getvalue().splitlines(keepends=True)
    if not rendered or rendered[0].rstrip() != f"{key}:":
        raise EditError(f"cannot write the new entry of {key}")
    return rendered[1:]


def _key_line_without_value(line: str, key: str) -> str:
    """``key: []  # note`` → ``key:  # note`` (the comment stays)."""
    match = re.match(rf"^{re.escape(key)}:\s*(?:\[\s*\]|null|~)?\s*(#.*)?$", line.rstrip("\n"))
    if match is None:
        raise EditError(f"{key}: has a value that is not a block list; write it as one")
    comment = match.group(1)
    return f"{key}:  {comment}\n" if comment else f"{key}:\n"


def _verify(text: str, expected: Any) -> str:
    if plain(load(text)) != expected:
        raise EditError("the edit would change more than the one entry; edit the file by hand")
    return text


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def append_item(text: str, key: str, item: Any, after: Sequence[str] = ()) -> str:
    """``text`` with ``item`` appended to the top-level block list ``key``.

    A missing ``key`` is added after the last of the keys in ``after`` that the
    file has (or at the end). Raises EditError when the list is in flow style."""
    document = load(text)
    lines = _lines(text)
    expected = plain(document)
    expected.setdefault(key, None)
    expected[key] = [*(expected[key] or []), plain(item)]
    new_item = _render_item(key, item, document, lines)
    value = document.get(key)
    if key in document and isinstance(value, CommentedSeq) and len(value):
        if value.fa.flow_style():
            raise EditError(f"{key}: is a flow-style list ([...]); write it as a block list")
        region = _region(document, key, len(lines))
        end = _content_end(lines, region.key_line + 1, region.end, int(value.lc.col))
        return _verify("".join([*lines[:end], *new_item, *lines[end:]]), expected)
    if key in document:
        if value is not None and not (isinstance(value, CommentedSeq) and not len(value)):
            raise EditError(f"{key}: is not a list")
        line = document.lc.key(key)[0]
        head = _key_line_without_value(lines[line], key)
        return _verify("".join([*lines[:line], head, *new_item, *lines[line + 1 :]]), expected)
    present = [k for k in after if k in document]
    if present:
        anchor = max(present, key=lambda k: document.lc.key(k)[0])
        region = _region(document, anchor, len(lines))
        end = _content_end(lines, region.key_line + 1, region.end, 0)
    else:
        end = len(lines)
    block = ["\n", f"{key}:\n", *new_item]
    return _verify("".join([*lines[:end], *block, *lines[end:]]), expected)


def remove_item(text: str, key: str, index: int) -> str:
    """``text`` without item ``index`` of the top-level block list ``key``; the last item
    removed leaves ``key: []``."""
    document = load(text)
    lines = _lines(text)
    value = document.get(key)
    if not isinstance(value, CommentedSeq) or not 0 <= index < len(value):
        raise EditError(f"{key}: has no item {index}")
    if value.fa.flow_style():
        raise EditError(f"{key}: is a flow-style list ([...]); write it as a block list")
    expected = plain(document)
    del expected[key][index]
    region = _region(document, key, len(lines))
    dash = int(value.lc.col)

    def heading(item: int) -> int:
        """First line of the item, with the comment block right above it."""
        line = int(value.lc.item(item)[0])
        floor = region.key_line + 1
        while line > floor and lines[line - 1].strip().startswith("#"):
            line -= 1
        return line

    if len(value) == 1:
        end = _content_end(lines, region.key_line + 1, region.end, dash)
        head = _key_line_without_value(lines[region.key_line], key).rstrip("\n")
        head = head.replace(f"{key}:", f"{key}: []", 1) + "\n"
        new = [*lines[: region.key_line], head, *lines[end:]]
    elif index < len(value) - 1:
        new = [*lines[: heading(index)], *lines[heading(index + 1) :]]
    else:
        start = _content_end(lines, region.key_line + 1, heading(index), dash)
        end = _content_end(lines, region.key_line + 1, region.end, dash)
        new = [*lines[:start], *lines[end:]]
    return _verify("".join(new), expected)
