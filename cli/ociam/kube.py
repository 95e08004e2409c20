"""A small Kubernetes API client for what the CLI reads and writes itself (Backups, the
health gate, the restore drill), with the kubeconfig's own credentials.

The current context of ``KUBECONFIG`` (or ``~/.kube/config``), as the Pulumi
Kubernetes provider reads it: client certificates and tokens are used directly;
exec and auth-provider credentials (cloud logins) are not supported here and are
named as such.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import ssl
import tempfile
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml


class KubeError(Exception):
    """The cluster could not be asked, or answered with an error status."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def kubeconfig_paths(environ: Mapping[str, str] | None = None) -> list[Path]:
    """The files of ``KUBECONFIG``, else ``$HOME/.kube/config``, as kubectl reads them."""
    environ = os.environ if environ is None else environ
    value = environ.get("KUBECONFIG", "")
    if value:
        return [Path(p).expanduser() for p in value.split(os.pathsep) if p]
    return [Path(environ.get("HOME", "~")).expanduser() / ".kube" / "config"]


class KubeconfigError(Exception):
    """The kubeconfig does not say how to reach a cluster."""


@dataclass(frozen=True)
class KubeContext:
    """The current context of a kubeconfig: where and who, as the provider reads it."""

    name: str
    server: str
    ca_pem: bytes | None = None
    insecure: bool = False
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    token: str | None = field(default=None, repr=False)
    #: exec or auth-provider credentials: only kubectl (client-go) can run them
    plugin: bool = False


def _yaml_reason(exc: yaml.YAMLError) -> str:
    """PyYAML's error in one line (its own text quotes the line with a caret below)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}: " if mark is not None else ""
        return where + " ".join(part for part in (exc.context, exc.problem) if part)
    return " ".join(str(exc).split())


def _merged(paths: list[Path]) -> tuple[str, dict[str, tuple[Path, dict[str, Any]]]]:
    """kubectl's merge of KUBECONFIG files: the first current-context and the first entry
    of each name win; entries keep the file they came from (relative paths)."""
    current = ""
    entries: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except OSError as exc:
            raise KubeconfigError(f"cannot read {path}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise KubeconfigError(f"{path} is not valid YAML: {_yaml_reason(exc)}") from None
        if not isinstance(data, dict):
            raise KubeconfigError(f"{path} is not a kubeconfig")
        current = current or str(data.get("current-context") or "")
        for section, key in (("contexts", "context"), ("clusters", "cluster"), ("users", "user")):
            for item in data.get(section) or []:
                if isinstance(item, dict) and "name" in item:
                    entry = item.get(key) or {}
                    entries.setdefault(f"{section}/{item['name']}", (path, entry))
    return current, entries


def _file_or_data(entry: dict[str, Any], base: Path, key: str) -> bytes | None:
    if entry.get(f"{key}-data"):
        return base64.b64decode(str(entry[f"{key}-data"]))
    if entry.get(key):
        return (base.parent / str(entry[key])).expanduser().read_bytes()
    return None


def load_kube_context(paths: list[Path]) -> KubeContext:
    """The current context of the merged kubeconfig files; KubeconfigError naming what
    is missing."""
    current, entries = _merged(paths)
    where = ", ".join(map(str, paths))
    if not current:
        raise KubeconfigError(f"no current context in {where}")
    if f"contexts/{current}" not in entries:
        raise KubeconfigError(f"context '{current}' is not defined in {where}")
    context = entries[f"contexts/{current}"][1]
    cluster_path, cluster = entries.get(f"clusters/{context.get('cluster')}", (paths[0], {}))
    user_path, user = entries.get(f"users/{context.get('user')}", (paths[0], {}))
    if not cluster.get("server"):
        raise KubeconfigError(f"context '{current}': its cluster has no server in {where}")
    try:
        token_file = user.get("tokenFile")
        token = user.get("token") or (
            (user_path.parent / str(token_file)).expanduser().read_text().strip()
            if token_file
            else None
        )
        return KubeContext(
            name=current,
            server=str(cluster["server"]),
            ca_pem=_file_or_data(cluster, cluster_path, "certificate-authority"),
            insecure=bool(cluster.get("insecure-skip-tls-verify")),
            cert_pem=_file_or_data(user, user_path, "client-certificate"),
            key_pem=_file_or_data(user, user_path, "client-key"),
            token=str(token) if token else None,
            plugin=bool(user.get("exec") or user.get("auth-provider")),
        )
    except OSError as exc:
        raise KubeconfigError(f"context '{current}': cannot read {exc.filename}") from None


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
        return cls.from_context(context)

    @classmethod
    def from_context(cls, context: KubeContext, timeout: float = 15.0) -> KubeClient:
        """A client with the context's own credentials (client certificate or token)."""
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
        return cls(context.server, tls, context.token, timeout)

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
