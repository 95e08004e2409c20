"""Strict validation of realm JSON against Keycloak 26's realm schema (../shared/keycloak)."""

from __future__ import annotations

import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_DIR_ENV = "OCIAM_KEYCLOAK_SCHEMA_DIR"
#: keycloak-config-cli applies our files, so its variant (userProfile etc.) is the one
SCHEMA_FILE = "keycloak-realm-26.keycloak-config-cli.schema.json"
_PLACEHOLDER = re.compile(r"\$\(env:[A-Z][A-Z0-9_]*\)")


class SchemaUnavailable(RuntimeError):
    """The schema directory is missing: a setup problem, never a pass."""


def schema_dir(project_root: Path) -> Path:
    """``$OCIAM_KEYCLOAK_SCHEMA_DIR``, else ``<checkout>/../shared/keycloak``."""
    configured = os.environ.get(SCHEMA_DIR_ENV)
    return Path(configured) if configured else project_root.parent / "shared" / "keycloak"


@cache
def _validator(path: Path) -> Draft202012Validator:
    if not path.is_file():
        raise SchemaUnavailable(
            f"Keycloak realm schema not found at {path}; set {SCHEMA_DIR_ENV} to the "
            "directory holding it (CI sets ../shared/keycloak)"
        )
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def realm_errors(document: Any, directory: Path) -> list[str]:
    """Every schema violation of one realm document, as ``path: message`` lines."""
    validator = _validator(directory / SCHEMA_FILE)
    errors = sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.path)))
    return [f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in errors]


def write_realm_files(realms: Any, directory: Path) -> list[Path]:
    """Write a city's realm files (``realm-<name>.json``) into its render directory.

    Only the apply files: the bootstrap files are implementation detail of the
    config client. The files hold placeholders only, so they are safe to commit
    and diff in pull requests.
    """
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for item in realms.realms:
        path = directory / item.filename
        path.write_text(item.text, encoding="utf-8")
        written.append(path)
    return written


def rendered_realm_errors(directory: Path, schema_directory: Path) -> list[str]:
    """Schema errors of every ``realm-*.json`` below a render directory, path-prefixed.

    Also refuses anything that looks like a secret value where keycloak-config-cli
    expects a ``$(env:...)`` placeholder.
    """
    problems: list[str] = []
    for path in sorted(directory.rglob("realm-*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            problems.append(f"{path}: not JSON: {exc}")
            continue
        problems.extend(
            f"{path}: {error}" for error in document_problems(document, schema_directory)
        )
    return problems


def document_problems(document: Any, schema_directory: Path) -> list[str]:
    """Schema violations and clear secret values of one realm document."""
    return realm_errors(document, schema_directory) + _clear_secrets(document)


_SECRET_KEYS = frozenset({"secret", "clientSecret", "bindCredential", "privateKey"})


def _clear_secrets(value: Any, path: str = "") -> list[str]:
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}/{key}"
            if key in _SECRET_KEYS:
                items = item if isinstance(item, list) else [item]
                found.extend(
                    f"{here}: a secret value where only $(env:NAME) is allowed"
                    for text in items
                    if not (isinstance(text, str) and _PLACEHOLDER.fullmatch(text))
                )
            else:
                found.extend(_clear_secrets(item, here))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.extend(_clear_secrets(item, f"{path}/{index}"))
    return found
