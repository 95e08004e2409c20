"""A small Kubernetes API client for what the CLI reads and writes itself (Backups, the
health gate, the restore drill), with the kubeconfig's own credentials.

The current context of ``KUBECONFIG`` (or ``~/.kube/config``), as the Pulumi
Kubernetes provider reads it: client certificates and tokens are used directly;
exec and auth-provider credentials (cloud logins) are not supported here and are
named as such.
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ociam.doctor import KubeconfigError, load_kube_context


class KubeError(Exception):
    """The cluster could not be asked, or answered with an error status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def kubeconfig_paths(environ: Mapping[str, str] | None = None) -> list[Path]:
    environ = os.environ if environ is None else environ
    value = environ.get("KUBECONFIG", "")
    if value:
        return [Path(p).expanduser() for p in value.split(os.pathsep) if p]
    return [Path.home() / ".kube" / "config"]


def resource_path(api_version: str, plural: str, namespace: str | None, name: str = "") -> str:
    base = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
    where = f"/namespaces/{namespace}" if namespace else ""
    return f"{base}{where}/{plural}" + (f"/{name}" if name else "")


@dataclass
class KubeClient:
    server: str
    tls: ssl.SSLContext | None
    token: str | None = None
    timeout: float = 15.0

    @classmethod
    def from_kubeconfig(cls, environ: Mapping[str, str] | None = None) -> KubeClient:
        paths = kubeconfig_paths(environ)
        try:
            context = load_kube_context(paths)
        except KubeconfigError as exc:
            raise KubeError(f"kubeconfig: {exc}") from None
        if context.plugin and not context.token and not context.cert_pem:
            raise KubeError(
                f"kubeconfig context '{context.name}' logs in through a credential plugin, "
                "which ociam cannot run; use a context with a client certificate or token"
            )
        tls: ssl.SSLContext | None = None
        if context.server.startswith("https"):
            if context.insecure:
                tls = ssl._create_unverified_context()  # the kubeconfig asks for it
            else:
                ca = context.ca_pem.decode() if context.ca_pem else None
                tls = ssl.create_default_context(cadata=ca)
            if context.cert_pem and context.key_pem:
                with tempfile.TemporaryDirectory(prefix="ociam-kube-") as scratch:
                    cert, key = Path(scratch) / "client.crt", Path(scratch) / "client.key"
                    for path, content in ((cert, context.cert_pem), (key, context.key_pem)):
                        path.touch(mode=0o600)
                        path.write_bytes(content)
                    tls.load_cert_chain(cert, key)
        return cls(context.server, tls, context.token)

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        content_type: str = "application/json",
    ) -> Any:
        url = urllib.parse.urlsplit(self.server)
        if url.scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                url.hostname or "", url.port or 443, timeout=self.timeout, context=self.tls
            )
        else:
            connection = http.client.HTTPConnection(
                url.hostname or "", url.port or 80, timeout=self.timeout
            )
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        try:
            connection.request(method, url.path.rstrip("/") + path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException) as exc:
            raise KubeError(f"cannot reach {self.server}: {exc or type(exc).__name__}") from None
        finally:
            connection.close()
        if response.status >= 400:
            try:
                message = json.loads(raw).get("message", "")
            except (ValueError, AttributeError):
                message = raw.decode(errors="replace")[:200]
            raise KubeError(
                f"{method} {path}: {response.status} {response.reason}: {message}",
                response.status,
            )
        return json.loads(raw) if raw else None

    def get(self, api_version: str, plural: str, name: str, namespace: str | None) -> Any:
        try:
            return self.request("GET", resource_path(api_version, plural, namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise

    def list(
        self, api_version: str, plural: str, namespace: str | None, selector: str = ""
    ) -> list[dict[str, Any]]:
        path = resource_path(api_version, plural, namespace)
        if selector:
            path += "?labelSelector=" + urllib.parse.quote(selector)
        try:
            answer = self.request("GET", path)
        except KubeError as exc:
            if exc.status == 404:  # the namespace or the kind is not there
                return []
            raise
        items: list[dict[str, Any]] = answer.get("items") or []
        return items

    def create(self, api_version: str, plural: str, namespace: str | None, obj: Any) -> Any:
        return self.request("POST", resource_path(api_version, plural, namespace), obj)

    def apply(
        self, api_version: str, plural: str, namespace: str | None, obj: dict[str, Any]
    ) -> Any:
        """Server-side apply as field manager ``ociam``."""
        path = resource_path(api_version, plural, namespace, obj["metadata"]["name"])
        return self.request(
            "PATCH",
            path + "?fieldManager=ociam&force=true",
            obj,
            content_type="application/apply-patch+yaml",
        )

    def delete(self, api_version: str, plural: str, name: str, namespace: str | None) -> bool:
        try:
            self.request(
                "DELETE",
                resource_path(api_version, plural, namespace, name),
                {"propagationPolicy": "Background"},
            )
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True
