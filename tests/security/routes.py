"""Which rendered HTTPRoute a request reaches, as Envoy Gateway matches it.

Envoy Gateway normalizes the path before routing (Envoy's ``normalize_path``: RFC 3986
percent-decoding of unreserved characters and removal of dot segments; ``merge_slashes``;
escaped slashes ``%2F``/``%5C`` unescaped, its default ``UnescapeAndRedirect``), then
matches the Gateway API way: ``PathPrefix`` element-wise (``/abc`` matches ``/abc`` and
``/abc/def``, not ``/abcd``; a trailing slash in the value is ignored), ``Exact``
whole, ``RegularExpression`` as RE2 ``safe_regex``, which must match the whole path.
The route's hostnames must include the request's host.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_UNRESERVED = re.compile(r"%(2[dDeE]|5[fF]|7[eE]|[46][1-9a-fA-F]|[57][0-9aA]|3[0-9])")
_ESCAPED_SLASH = re.compile(r"%(2[fF]|5[cC])")


def normalize(path: str) -> str:
    """The path as Envoy Gateway routes it (query and fragment dropped)."""
    path = path.split("?", 1)[0].split("#", 1)[0]
    path = _UNRESERVED.sub(lambda m: bytes.fromhex(m.group(1)).decode("ascii"), path)
    path = _ESCAPED_SLASH.sub("/", path)
    path = re.sub(r"/{2,}", "/", path)
    out: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == ".":
            continue
        if segment == "..":
            if out:
                out.pop()
            continue
        out.append(segment)
    trailing = path.endswith(("/", "/.", "/..")) and bool(out)
    return "/" + "/".join(out) + ("/" if trailing else "")


def _matches(kind: str, value: str, path: str) -> bool:
    if kind == "Exact":
        return path == value
    if kind == "PathPrefix":
        prefix = value.rstrip("/")
        return not prefix or path == prefix or path.startswith(prefix + "/")
    if kind == "RegularExpression":
        return re.fullmatch(value, path) is not None
    raise ValueError(f"path match type {kind} is not modelled")


@dataclass(frozen=True)
class Route:
    name: str
    hostnames: tuple[str, ...]
    matches: tuple[tuple[str, str], ...]

    @classmethod
    def from_manifest(cls, route: dict[str, Any]) -> Route:
        matches = []
        for rule in route["spec"]["rules"]:
            for match in rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]:
                if set(match) - {"path"}:
                    raise ValueError(f"route match {match} is not modelled")
                path = match.get("path", {"type": "PathPrefix", "value": "/"})
                matches.append((path.get("type", "PathPrefix"), path["value"]))
        return cls(route["metadata"]["name"], tuple(route["spec"]["hostnames"]), tuple(matches))

    def routes(self, host: str, path: str) -> bool:
        if host not in self.hostnames:
            return False
        normalized = normalize(path)
        return any(_matches(kind, value, normalized) for kind, value in self.matches)


def routes_of(objects: Iterable[dict[str, Any]]) -> list[Route]:
    return [Route.from_manifest(o) for o in objects if o["kind"] == "HTTPRoute"]


def reaching(routes: Iterable[Route], host: str, path: str) -> list[str]:
    """Names of the routes that would carry ``host`` + ``path``."""
    return [r.name for r in routes if r.routes(host, path)]
