"""HTTP into the test pods the way the cluster would carry it.

- :class:`GatewayAdapter` plays the platform Gateway: requests for
  ``https://<city hostname>/...`` reach a Keycloak pod's HTTP port in plain
  HTTP with the ``X-Forwarded-*`` headers Envoy sets (TLS ends at the
  gateway, as in the render), but only where a rendered HTTPRoute routes that
  hostname and path (PathPrefix, Exact and RegularExpression matches); anything else gets the
  404 a gateway answers. Cookies, redirects and ``Secure`` flags behave as in
  a browser talking to the real https URL. Not modelled: TLS itself, and the
  envoy-gateway policies (the admin allowlist).
- :class:`ServiceAdapter` plays a ClusterIP Service: requests for
  ``http://keycloak.<ns>.svc:8080/...`` (the realm configuration Jobs' URL)
  reach a pod directly, with no forwarded headers.

The test process sits on the podman network's gateway address, inside the
pod network that ``KC_PROXY_TRUSTED_ADDRESSES`` trusts, where the gateway's
proxies are in a real cluster.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

#: where "the internet" logs in from (TEST-NET-2, never a cluster address)
CLIENT_ADDRESS = "198.51.100.10"


class _RoutingAdapter(HTTPAdapter):
    """Sends each request to one of ``backends()`` (round robin), keeping its URL."""

    def __init__(self, backends: Callable[[], Sequence[tuple[str, int]]]) -> None:
        super().__init__()
        self._backends = backends
        self._counter = itertools.count()

    def forwarded_headers(self, url: str) -> Mapping[str, str]:
        return {}

    def pick(self) -> tuple[str, int]:
        backends = list(self._backends())
        if not backends:
            raise requests.ConnectionError("no ready backend")
        return backends[next(self._counter) % len(backends)]

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: object
    ) -> requests.Response:
        original_url = request.url or ""
        parts = urlsplit(original_url)
        host, port = self.pick()
        routed = request.copy()
        routed.url = urlunsplit(("http", f"{host}:{port}", parts.path, parts.query, ""))
        routed.headers["Host"] = parts.netloc
        routed.headers.update(self.forwarded_headers(original_url))
        response = super().send(routed, **kwargs)  # type: ignore[arg-type]
        response.url = original_url
        response.request = request
        return response


@dataclass(frozen=True)
class Route:
    """One HTTPRoute: its hostnames and path matches."""

    hostnames: tuple[str, ...]
    matches: tuple[tuple[str, str], ...]

    @classmethod
    def from_manifest(cls, route: Mapping[str, Any]) -> Route:
        matches = []
        for rule in route["spec"]["rules"]:
            for match in rule.get("matches") or [{"path": {"type": "PathPrefix", "value": "/"}}]:
                path = match.get("path") or {"type": "PathPrefix", "value": "/"}
                if path["type"] not in {"PathPrefix", "Exact", "RegularExpression"} or (
                    set(match) - {"path"}
                ):
                    raise NotImplementedError(f"route match {match} is not modelled")
                matches.append((path["type"], path["value"]))
        return cls(tuple(route["spec"]["hostnames"]), tuple(matches))

    def routes(self, host: str, path: str) -> bool:
        if host not in self.hostnames:
            return False
        for kind, value in self.matches:
            prefix = value.rstrip("/")
            if kind == "Exact" and path == value:
                return True
            if kind == "PathPrefix" and (path == prefix or path.startswith(prefix + "/")):
                return True
            # Envoy's safe_regex: RE2, matching the whole path
            if kind == "RegularExpression" and re.fullmatch(value, path):
                return True
        return False


class GatewayAdapter(_RoutingAdapter):
    """The platform Gateway's HTTPS listener in front of the city's Keycloak pods."""

    def __init__(
        self, backends: Callable[[], Sequence[tuple[str, int]]], routes: Sequence[Route]
    ) -> None:
        super().__init__(backends)
        self.routes = list(routes)

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: object
    ) -> requests.Response:
        parts = urlsplit(request.url or "")
        if not any(r.routes(parts.hostname or "", parts.path or "/") for r in self.routes):
            response = requests.Response()
            response.status_code = 404
            response._content = b"no route (gateway stand-in)"
            response.url = request.url or ""
            response.request = request
            return response
        return super().send(request, **kwargs)

    def forwarded_headers(self, url: str) -> Mapping[str, str]:
        parts = urlsplit(url)
        return {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": parts.hostname or "",
            "X-Forwarded-Port": "443",
            "X-Forwarded-For": CLIENT_ADDRESS,
        }


class ServiceAdapter(_RoutingAdapter):
    """A ClusterIP Service: plain HTTP from inside the namespace."""


def browser(
    routes: Sequence[Route], backends: Callable[[], Sequence[tuple[str, int]]]
) -> requests.Session:
    """A session that reaches the routed ``https://<hostname>`` URLs through the gateway."""
    session = requests.Session()
    session.headers["User-Agent"] = "Mozilla/5.0 (X11; Linux x86_64) ociam-tests"
    for hostname in {h for r in routes for h in r.hostnames}:
        session.mount(f"https://{hostname}/", GatewayAdapter(backends, routes))
    return session


def in_cluster(
    service_url: str, backends: Callable[[], Sequence[tuple[str, int]]]
) -> requests.Session:
    """A session that reaches ``service_url`` as a pod in the namespace would."""
    session = requests.Session()
    session.mount(service_url.rstrip("/") + "/", ServiceAdapter(backends))
    return session
