"""Field-by-field differences between two renders of a city's realms, for review.

The engine sees a realm change as a replaced ConfigMap and Job; a reviewer wants to
read "a redirect URI removed from client intranet". :func:`diff_realms` compares the
realm JSON of two renders and names each change by its path, with the items of
Keycloak's lists named by what identifies them (``clients[intranet]``,
``identityProviders[suomifi]``, ``authenticationFlows[employees browser]``) rather
than by position. Values under a secret-looking key are never shown.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

#: keys that identify the items of a list of objects, in order of preference
IDENTITY_KEYS = ("clientId", "alias", "name", "username", "authenticator", "flowAlias")
#: a key whose value is never shown (the renders hold placeholders, but a reviewer's
#: comment is not the place to find out whether one is a real value)
SECRET_KEY = re.compile(r"secret|credential|password$|privatekey", re.IGNORECASE)
REDACTED = "<secret>"
MAX_VALUE_CHARS = 100

ChangeKind = Literal["added", "removed", "changed"]


@dataclass(frozen=True)
class RealmChange:
    realm: str
    path: str
    kind: ChangeKind
    before: str | None = None
    after: str | None = None

    def line(self) -> str:
        where = f"{self.realm}: {self.path}" if self.path else self.realm
        if self.kind == "changed":
            return f"{where}: {self.before} → {self.after}"
        value = self.after if self.kind == "added" else self.before
        return f"{where}: {self.kind}" + (f" {value}" if value is not None else "")


def _shown(value: Any, key: str) -> str:
    if SECRET_KEY.search(key) and value not in (None, "", [], {}):
        return REDACTED
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def _identity(*lists: Sequence[Any]) -> str | None:
    """The key that names every item of each list of objects uniquely, if there is one."""
    items = [item for each in lists for item in each]
    if not items or not all(isinstance(item, dict) for item in items):
        return None
    for key in IDENTITY_KEYS:
        if all(_unique_names(each, key) for each in lists):
            return key
    return None


def _unique_names(items: Sequence[dict[str, Any]], key: str) -> bool:
    names = [item.get(key) for item in items]
    return all(isinstance(n, str) for n in names) and len(set(names)) == len(names)


def _item_label(item: Any) -> str | None:
    """What a whole added or removed item is called (its name, not its content)."""
    if isinstance(item, dict):
        for key in IDENTITY_KEYS:
            if isinstance(item.get(key), str):
                return json.dumps(item[key], ensure_ascii=False)
    return None


class _Differ:
    def __init__(self, realm: str) -> None:
        self.realm = realm
        self.changes: list[RealmChange] = []

    def add(self, path: str, kind: ChangeKind, before: str | None, after: str | None) -> None:
        self.changes.append(RealmChange(self.realm, path, kind, before, after))

    def value(self, path: str, key: str, before: Any, after: Any) -> None:
        if before == after:
            return
        if isinstance(before, dict) and isinstance(after, dict):
            self.mapping(path, before, after)
        elif isinstance(before, list) and isinstance(after, list):
            self.sequence(path, key, before, after)
        else:
            self.add(path, "changed", _shown(before, key), _shown(after, key))

    def mapping(self, path: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
        for key in sorted(set(before) | set(after)):
            where = f"{path}.{key}" if path else key
            if key not in after:
                self.add(where, "removed", _shown(before[key], key), None)
            elif key not in before:
                self.add(where, "added", None, _shown(after[key], key))
            else:
                self.value(where, key, before[key], after[key])

    def sequence(self, path: str, key: str, before: list[Any], after: list[Any]) -> None:
        identity = _identity(before, after)
        if identity is None and all(not isinstance(v, dict | list) for v in before + after):
            if len(before) == len(after) == 1:  # a component's one-value config entry
                self.add(path, "changed", _shown(before[0], key), _shown(after[0], key))
                return
            for item in before:
                if item not in after:
                    self.add(path, "removed", _shown(item, key), None)
            for item in after:
                if item not in before:
                    self.add(path, "added", None, _shown(item, key))
            if set(map(_hashable, before)) == set(map(_hashable, after)):
                self.add(path, "changed", "order " + _shown(before, key), _shown(after, key))
            return
        if identity is None:  # objects without a name: compare by position
            for index in range(max(len(before), len(after))):
                where = f"{path}[{index}]"
                if index >= len(after):
                    self.add(where, "removed", _item_label(before[index]) or "", None)
                elif index >= len(before):
                    self.add(where, "added", None, _item_label(after[index]) or "")
                else:
                    self.value(where, key, before[index], after[index])
            return
        old = {item[identity]: item for item in before}
        new = {item[identity]: item for item in after}
        for name in [n for n in old if n not in new]:
            self.add(f"{path}[{name}]", "removed", None, None)
        for name in [n for n in new if n not in old]:
            self.add(f"{path}[{name}]", "added", None, None)
        for name in [n for n in new if n in old]:
            self.value(f"{path}[{name}]", key, old[name], new[name])


def _hashable(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def diff_realms(
    before: Mapping[str, Mapping[str, Any]], after: Mapping[str, Mapping[str, Any]]
) -> list[RealmChange]:
    """Changes from ``before`` to ``after`` (realm name → realm JSON), realm by realm."""
    changes: list[RealmChange] = []
    for realm in sorted(set(before) | set(after)):
        if realm not in after:
            changes.append(RealmChange(realm, "", "removed"))
        elif realm not in before:
            changes.append(RealmChange(realm, "", "added"))
        else:
            differ = _Differ(realm)
            differ.mapping("", before[realm], after[realm])
            changes.extend(differ.changes)
    return changes
