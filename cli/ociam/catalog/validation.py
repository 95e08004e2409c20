"""Turn pydantic validation errors into catalog problems with file, line and field path."""

from __future__ import annotations

import difflib
import types
import typing
from typing import Any, TypeVar, Union

from pydantic import BaseModel, ValidationError

from ociam.catalog.errors import Problem
from ociam.catalog.yaml_source import FieldPath, YamlDocument

M = TypeVar("M", bound=BaseModel)


def format_path(loc: FieldPath) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def _data_path(data: Any, loc: tuple[Any, ...]) -> FieldPath:
    """Keep the parts of a pydantic ``loc`` that are real keys or indexes in ``data``.

    Pydantic inserts union tags ('openid-connect') and validator names into
    locations; they are not in the file and would confuse a reader.
    """
    path: list[str | int] = []
    node = data
    for part in loc:
        if (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        ):
            path.append(part)
            node = node[part]
        elif not isinstance(node, dict | list):
            break
        elif (
            isinstance(node, dict)
            and isinstance(part, str)
            and not part.startswith(("function-", "tagged-union"))
            and part not in {"openid-connect", "saml"}
        ):
            # a key that is missing from the data (required field, unknown key)
            path.append(part)
            break
    return tuple(path)


def _unwrap(annotation: Any) -> list[type[BaseModel]]:
    """Model classes reachable from an annotation (through Optional, list, Annotated)."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (Union, types.UnionType, list, dict):
        found: list[type[BaseModel]] = []
        for arg in typing.get_args(annotation):
            found.extend(_unwrap(arg))
        return found
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return []


def _allowed_keys(model: type[BaseModel], data: Any, loc: FieldPath) -> list[str]:
    """Field names of the model that holds the last element of ``loc``."""
    candidates: list[type[BaseModel]] = [model]
    node = data
    for part in loc[:-1]:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            continue
        next_candidates: list[type[BaseModel]] = []
        for candidate in candidates:
            field = candidate.model_fields.get(part)
            if field is not None:
                next_candidates.extend(_unwrap(field.annotation))
        node = node.get(part) if isinstance(node, dict) else None
        candidates = next_candidates
    if len(candidates) > 1 and isinstance(node, dict) and "protocol" in node:
        candidates = [
            c
            for c in candidates
            if node["protocol"] in typing.get_args(c.model_fields["protocol"].annotation)
        ] or candidates
    keys: set[str] = set()
    for candidate in candidates:
        keys.update(candidate.model_fields)
    return sorted(keys)


def _reason(error: Any, model: type[BaseModel], data: Any, path: FieldPath) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_keys(model, data, path)
        unknown = str(path[-1]) if path else ""
        close = difflib.get_close_matches(unknown, allowed, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        return f"unknown key{hint} (allowed here: {', '.join(allowed)})"
    if kind == "missing":
        return "required field is missing"
    message: str = error["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind.startswith(
        ("string_type", "int_type", "bool_type", "list_type", "dict_type")
    ) or kind in {"model_type", "model_attributes_type"}:
        message = f"{message} (got {type(error['input']).__name__} {error['input']!r})"
    if kind == "string_pattern_mismatch":
        message = f"{error['input']!r} does not match the required format {error['ctx']['pattern']}"
    return message


def validate_document(model: type[M], document: YamlDocument, problems: list[Problem]) -> M | None:
    """Validate a parsed file against ``model``; append problems and return None if invalid."""
    if document.data is None:
        problems.append(Problem(document.path, "", "file is empty; expected a YAML mapping", 1))
        return None
    if not isinstance(document.data, dict):
        problems.append(
            Problem(
                document.path,
                "",
                f"expected a YAML mapping of keys, got {type(document.data).__name__}",
                document.line_of(()),
            )
        )
        return None
    try:
        return model.model_validate(document.data)
    except ValidationError as exc:
        for error in exc.errors():
            path = _data_path(document.data, error["loc"])
            problems.append(
                Problem(
                    document.path,
                    format_path(path),
                    _reason(error, model, document.data, path),
                    # a missing top-level key has no line of its own: the file's first
                    document.line_of(path) or 1,
                )
            )
        return None
