"""Secret references: the catalog names where a secret lives, never the secret."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

SECRET_KEY_PATTERN = r"^[a-z][a-zA-Z0-9]*$"


class SecretRef(BaseModel):
    """A secret held in the stack's Pulumi config (``pulumi config set --secret KEY``).

    The key lives in the ``ociam`` config namespace of the city's stack
    (``ociam:KEY``). The value never appears in the catalog, a render or a log.
    """

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    pulumi_secret: str = Field(
        pattern=SECRET_KEY_PATTERN,
        description="Pulumi config key (camelCase) holding the secret, set with "
        "`pulumi config set --secret <key>` on the city's stack",
    )

    @model_validator(mode="before")
    @classmethod
    def _refuse_clear_text(cls, value: Any) -> Any:
        if isinstance(value, str | int | float | bool):
            raise ValueError(
                "secrets never live in the catalog in clear: write "
                "{pulumi_secret: <configKey>} and set the value with "
                "`pulumi config set --secret <configKey>` on the stack"
            )
        return value


def iter_secret_refs(value: Any, path: str = "") -> list[tuple[str, SecretRef]]:
    """Every SecretRef below a model or container, with its dotted field path.

    Order is the models' field order, so callers get a stable list.
    """
    found: list[tuple[str, SecretRef]] = []
    if isinstance(value, SecretRef):
        found.append((path, value))
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            found.extend(iter_secret_refs(getattr(value, name), f"{path}.{name}" if path else name))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found.extend(iter_secret_refs(item, f"{path}[{index}]"))
    elif isinstance(value, dict):
        for key, item in value.items():
            found.extend(iter_secret_refs(item, f"{path}.{key}" if path else str(key)))
    return found
