"""Secrets in realm JSON: only ``$(env:NAME)`` placeholders, resolved inside the Job.

keycloak-config-cli substitutes ``$(env:NAME)`` from its own environment
(``IMPORT_VARSUBSTITUTION_ENABLED=true``); the Job takes each variable from a
Kubernetes Secret. The JSON, the ConfigMap and every render hold only names.

The substitution is textual, before the file is parsed, and rescans what it
substituted (commons-text ``StringSubstitutor``; see
../shared/notes/keycloak-config-cli.md). So the Secret holds each value in
the form :func:`substitution_safe` gives it, never as typed: a password with
a quote, a backslash or ``$(`` would otherwise break the import or change.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ociam.catalog.secrets import SecretRef

#: the env var the config client's generated secret reaches both Jobs by
CONFIG_CLIENT_SECRET_ENV = "OCIAM_CONFIG_CLIENT_SECRET"

_PLACEHOLDER_RE = re.compile(r"\$\(env:([A-Z][A-Z0-9_]*)\)")


def env_name(ref: SecretRef) -> str:
    """``ldapBindPassword`` -> ``OCIAM_SECRET_LDAP_BIND_PASSWORD``."""
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", ref.pulumi_secret)
    return f"OCIAM_SECRET_{snake.upper()}"


def substitution_safe(value: str) -> str:
    """``value`` as it must sit in the Job's environment so that keycloak-config-cli,
    substituting it into a JSON string of a realm file, reads back exactly ``value``.

    JSON string escapes for quotes, backslashes, control and non-ASCII characters
    (the file is then read by SnakeYAML, whose double-quoted scalars take the same
    escapes), and ``$(`` as ``$$(``: the substitutor rescans substituted values, and
    ``$`` is its escape character. A placeholder always stands for a whole JSON string
    (tested), so this is the only context a value lands in."""
    return json.dumps(value, ensure_ascii=True)[1:-1].replace("$(", "$$(")


def placeholder(name: str) -> str:
    return f"$(env:{name})"


def placeholders_in(text: str) -> set[str]:
    """Every env var name a realm file asks keycloak-config-cli to substitute."""
    return set(_PLACEHOLDER_RE.findall(text))


@dataclass(frozen=True, order=True)
class SecretBinding:
    """One secret a realm file needs: the env var the Job sets, the Pulumi config key."""

    env: str
    config_key: str

    @classmethod
    def of(cls, ref: SecretRef) -> SecretBinding:
        return cls(env=env_name(ref), config_key=ref.pulumi_secret)

    @property
    def placeholder(self) -> str:
        return placeholder(self.env)
