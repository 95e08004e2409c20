"""JSON Schemas of the catalog files, for editors (yaml-language-server) and reviewers."""

from __future__ import annotations

from typing import Any

from ociam.catalog.city import CityFile
from ociam.catalog.environment import EnvironmentSettings

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _schema(
    model: type[CityFile] | type[EnvironmentSettings], title: str, ident: str
) -> dict[str, Any]:
    body = model.model_json_schema(mode="validation")
    return {"$schema": SCHEMA_DIALECT, "$id": ident, **body, "title": title}


def city_schema() -> dict[str, Any]:
    return _schema(
        CityFile,
        "ociam city file (inventories/<env>/group_vars/<city>.yml)",
        "https://ociam.fi/schemas/city.schema.json",
    )


def environment_schema() -> dict[str, Any]:
    return _schema(
        EnvironmentSettings,
        "ociam environment defaults (inventories/<env>/group_vars/all.yml)",
        "https://ociam.fi/schemas/environment.schema.json",
    )
