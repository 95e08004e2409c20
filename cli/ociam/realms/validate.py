"""Strict validation of realm JSON against Keycloak 26's realm schema (../shared/keycloak)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_DIR_ENV = "OCIAM_KEYCLOAK_SCHEMA_DIR"
#: keycloak-config-cli applies our files, so its variant (userProfile etc.) is the one
SCHEMA_FILE = "keycloak-realm-26.keycloak-config-cli.schema.json"


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
