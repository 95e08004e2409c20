"""A real Kubernetes control plane on loopback, for the tests (tests/cluster).

    with control_plane(require_toolchain()) as cp:
        cp.client.apply(obj, dry_run=True)        # (response, warnings)
        subprocess.run([...], env=cp.env())       # KUBECONFIG and PATH for pulumi, kubectl

What runs, each in its own process group, logging to ``<tmp>/logs/<name>.log``:

* etcd (loopback ports, ``--unsafe-no-fsync``: a test store);
* kube-apiserver: client-certificate authentication against a test CA, authorization
  ``Node,RBAC``, the default admission plugins (Pod Security among them: namespace
  labels ``pod-security.kubernetes.io/*`` are enforced on Pods, warned about on pod
  templates) plus NodeRestriction, ``--allow-privileged`` (so that refusing a
  privileged Pod is Pod Security's doing), service-account signing keys;
* kube-controller-manager with the controllers real deploys lean on (garbage
  collector for foreground deletion, namespace, Deployment/ReplicaSet/StatefulSet/
  Job/CronJob, service accounts and their tokens, ResourceQuota, endpoints);
* kube-scheduler;
* kwok, managing fake Nodes (one by default) with its ``node-fast`` and ``pod-fast``
  stages: scheduled Pods become Running and Ready, Job Pods then Succeeded.

The admin user (``system:masters``) has a client certificate in ``cp.kubeconfig``
(embedded, so the file stands alone). The CRDs of ``OCIAM_CRD_DIR`` (default
``../shared/crds``) are installed and Established before ``control_plane`` yields.
Everything is stopped (SIGTERM to each process group, SIGKILL after a grace period)
and the temporary directory removed when the block exits, on SIGTERM and at exit;
the children also get SIGKILL if this process dies (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import requests
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from tests.realsys.tls import KeyPair, TestCA

ROOT = Path(__file__).resolve().parents[2]
CRD_DIR_ENV = "OCIAM_CRD_DIR"
FIELD_MANAGER = "ociam-tests"
#: the label and annotation kwok manages fake Nodes by
FAKE_NODE_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_STAGES = ("node-fast.yaml", "pod-fast.yaml")
CONTROLLERS = (
    "garbage-collector-controller",
    "namespace-controller",
    "serviceaccount-controller",
    "serviceaccount-token-controller",
    "root-ca-certificate-publisher-controller",
    "clusterrole-aggregation-controller",
    "resourcequota-controller",
    "deployment-controller",
    "replicaset-controller",
    "statefulset-controller",
    "job-controller",
    "cronjob-controller",
    "ttl-after-finished-controller",
    "disruption-controller",
    "endpoints-controller",
    "endpointslice-controller",
)
#: how long startup may take before it fails (generous: two shared cores)
START_TIMEOUT = 120.0
#: grace period between SIGTERM and SIGKILL when stopping
STOP_GRACE = 10.0
REQUEST_TIMEOUT = 60.0

T = TypeVar("T")


class ControlPlaneError(RuntimeError):
    """The control plane did not start (the message ends with each component's log)."""


def default_crd_dir() -> Path:
    return Path(os.environ.get(CRD_DIR_ENV) or ROOT.parent / "shared" / "crds")


# ---------------------------------------------------------------- the API client


class ApiError(RuntimeError):
    """The API server answered with an error status."""

    def __init__(self, method: str, path: str, status: int, body: Any, warnings: Sequence[str]):
        self.status = status
        self.body = body if isinstance(body, dict) else {}
        self.reason = str(self.body.get("reason", ""))
        self.message = str(self.body.get("message", body))
        self.warnings = tuple(warnings)
        super().__init__(f"{method} {path}: {status} {self.reason}: {self.message}")


_WARNING = re.compile(r'^\s*\d{3}\s+\S+\s+"((?:[^"\\]|\\.)*)"')


def parse_warnings(values: Sequence[str]) -> tuple[str, ...]:
    """The texts of ``Warning: 299 - "text"`` response headers (RFC 7234 quoting)."""
    texts = []
    for value in values:
        match = _WARNING.match(value)
        text = match.group(1) if match else value
        texts.append(re.sub(r"\\(.)", r"\1", text))
    return tuple(texts)


@dataclass(frozen=True)
class Resource:
    """Where a kind is served: its plural name and whether it lives in a namespace."""

    name: str
    namespaced: bool


class KubeClient:
    """A small typed client of the Kubernetes API over ``requests``, as the admin."""

    def __init__(self, server: str, ca_file: Path, cert_file: Path, key_file: Path) -> None:
        self.server = server
        self._session = requests.Session()
        # no REQUESTS_CA_BUNDLE (it would override the CA) and no proxy for loopback
        self._session.trust_env = False
        self._verify = str(ca_file)
        self._session.cert = (str(cert_file), str(key_file))
        self._resources: dict[str, dict[str, Resource]] = {}
        self._lock = threading.Lock()

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: Any = None,
        content_type: str = "application/json",
    ) -> tuple[Any, tuple[str, ...]]:
        """One call: (decoded JSON body, warnings); ApiError for an error status."""
        data = None if body is None else json.dumps(body)
        response = self._session.request(
            method,
            self.server + path,
            params=dict(params or {}),
            data=data,
            headers={"Content-Type": content_type, "Accept": "application/json"},
            timeout=REQUEST_TIMEOUT,
            verify=self._verify,
        )
        # requests folds repeated headers into one with ", "; urllib3 keeps them apart
        warnings = parse_warnings(response.raw.headers.getlist("Warning"))
        try:
            decoded: Any = response.json()
        except ValueError:
            decoded = response.text
        if response.status_code >= 400:
            raise ApiError(method, path, response.status_code, decoded, warnings)
        return decoded, warnings

    def resource(self, api_version: str, kind: str) -> Resource:
        """Discovery of ``api_version`` (asked again once when ``kind`` is not there)."""
        for attempt in range(2):
            with self._lock:
                known = self._resources.get(api_version)
            if known is None or (kind not in known and attempt == 1):
                base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
                answer, _ = self.request("GET", base)
                known = {
                    r["kind"]: Resource(r["name"], bool(r["namespaced"]))
                    for r in answer.get("resources", [])
                    if "/" not in r["name"]
                }
                with self._lock:
                    self._resources[api_version] = known
            if kind in known:
                return known[kind]
        raise ApiError("GET", api_version, 404, {"message": f"{api_version} serves no {kind}"}, ())

    def path(
        self, api_version: str, kind: str, namespace: str | None = None, name: str | None = None
    ) -> str:
        resource = self.resource(api_version, kind)
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        if resource.namespaced and namespace:
            base += f"/namespaces/{namespace}"
        base += f"/{resource.name}"
        return f"{base}/{name}" if name else base

    def object_path(self, obj: Mapping[str, Any], with_name: bool = True) -> str:
        meta = obj.get("metadata") or {}
        name = str(meta["name"]) if with_name else None
        return self.path(str(obj["apiVersion"]), str(obj["kind"]), meta.get("namespace"), name)

    def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> dict[str, Any] | None:
        """The object, or None when there is none."""
        try:
            found, _ = self.request("GET", self.path(api_version, kind, namespace, name))
        except ApiError as error:
            if error.status == 404:
                return None
            raise
        return dict(found)

    def list(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        label_selector: str | None = None,
    ) -> list[dict[str, Any]]:
        params = {"labelSelector": label_selector} if label_selector else {}
        found, _ = self.request("GET", self.path(api_version, kind, namespace), params=params)
        return list(found.get("items", []))

    def create(
        self, obj: Mapping[str, Any], dry_run: bool = False, field_validation: str | None = None
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """POST (``dryRun=All`` when ``dry_run``): (the result, warnings)."""
        params = _write_params(dry_run, field_validation)
        path = self.object_path(obj, with_name=False)
        created, warnings = self.request("POST", path, params=params, body=obj)
        return dict(created), warnings

    def apply(
        self,
        obj: Mapping[str, Any],
        dry_run: bool,
        field_manager: str = FIELD_MANAGER,
        force: bool = True,
        field_validation: str | None = None,
    ) -> tuple[dict[str, Any], tuple[str, ...]]:
        """Server-side apply (``dryRun=All`` when ``dry_run``): (the result, warnings).

        ``field_validation``: the server's ``fieldValidation`` (Ignore, Warn, Strict);
        None leaves the server's default.
        """
        params = _write_params(dry_run, field_validation)
        params.update(fieldManager=field_manager, force=str(force).lower())
        applied, warnings = self.request(
            "PATCH",
            self.object_path(obj),
            params=params,
            body=obj,
            content_type="application/apply-patch+yaml",
        )
        return dict(applied), warnings

    def delete(
        self,
        api_version: str,
        kind: str,
        name: str,
        namespace: str | None = None,
        propagation: str = "Background",
    ) -> bool:
        """Delete; False when there was nothing to delete."""
        body = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        try:
            self.request("DELETE", self.path(api_version, kind, namespace, name), body=body)
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True


def gone(
    client: KubeClient, api_version: str, kind: str, name: str, namespace: str | None = None
) -> bool | None:
    """True when the object does not exist (None otherwise: a probe for ``wait_for``)."""
    return True if client.get(api_version, kind, name, namespace) is None else None


def _write_params(dry_run: bool, field_validation: str | None) -> dict[str, str]:
    params = {"dryRun": "All"} if dry_run else {}
    if field_validation:
        params["fieldValidation"] = field_validation
    return params


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, interval: float = 0.1) -> T:
    """Poll ``probe`` until it returns something (not None); TimeoutError naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while True:
        try:
            value = probe()
        except (requests.RequestException, ApiError) as error:
            value, last_error = None, error
        if value is not None:
            return value
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise TimeoutError(f"{what}: not within {timeout:.0f} s{detail}")
        time.sleep(interval)


# ---------------------------------------------------------------- processes


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL when the test process dies (Linux)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class _Supervisor:
    """The processes and the directory of one control plane, stopped exactly once."""

    directory: Path
    processes: list[tuple[str, subprocess.Popen[bytes]]] = field(default_factory=list)
    _stopped: bool = False

    @property
    def log_dir(self) -> Path:
        return self.directory / "logs"

    def start(self, name: str, command: Sequence[str]) -> subprocess.Popen[bytes]:
        with (self.log_dir / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                list(command),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.directory,
                start_new_session=True,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 (started from the main thread)
            )
        self.processes.append((name, process))
        return process

    def check_running(self) -> None:
        for name, process in self.processes:
            if process.poll() is not None:
                raise ControlPlaneError(f"{name} exited with {process.returncode}")

    def log_tails(self, lines: int = 30) -> str:
        parts = []
        for path in sorted(self.log_dir.glob("*.log")):
            text = path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:]
            parts.append(f"----- {path.name} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(parts)

    def stop(self) -> None:
        """Clients first, then the API server, then etcd: SIGTERM to each process group,
        SIGKILL after the grace period (an API server stopping while its clients still
        watch waits for them)."""
        if self._stopped:
            return
        self._stopped = True
        for _, process in reversed(self.processes):
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()
            _signal_group(process, signal.SIGKILL)  # whatever the component left behind
        shutil.rmtree(self.directory, ignore_errors=True)


def _signal_group(process: subprocess.Popen[bytes], signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signum)


_LIVE: list[_Supervisor] = []
_previous_sigterm: Any = None


def _stop_all() -> None:
    while _LIVE:
        _LIVE.pop().stop()


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    _stop_all()
    previous = _previous_sigterm
    if callable(previous):
        previous(signum, frame)
        return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _register(supervisor: _Supervisor) -> None:
    global _previous_sigterm  # noqa: PLW0603 (one handler per process)
    if not _LIVE and _previous_sigterm is None:
        atexit.register(_stop_all)
        if threading.current_thread() is threading.main_thread():
            _previous_sigterm = signal.signal(signal.SIGTERM, _on_sigterm)
    _LIVE.append(supervisor)


TEMP_PREFIX = "ociam-control-plane-"
#: the pid of the process that started a control plane, in its directory
OWNER_FILE = "owner.pid"


def _remove_orphans() -> None:
    """Remove the directories of control planes whose test process was SIGKILLed (its
    children died with it: PR_SET_PDEATHSIG, but nothing could remove the directory)."""
    for directory in Path(tempfile.gettempdir()).glob(f"{TEMP_PREFIX}*"):
        try:
            owner = int((directory / OWNER_FILE).read_text(encoding="utf-8"))
            os.kill(owner, 0)
        except ProcessLookupError:
            shutil.rmtree(directory, ignore_errors=True)
        except (OSError, ValueError):
            continue  # being created, or not ours to judge


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports free right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


# ---------------------------------------------------------------- credentials


class ClusterCA(TestCA):
    """The test CA, also issuing IP-address servers and client certificates."""

    def issue(
        self,
        common_name: str,
        *,
        organizations: Sequence[str] = (),
        dns_names: Sequence[str] = (),
        ip_addresses: Sequence[str] = (),
        client: bool = False,
    ) -> KeyPair:
        import datetime
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        names = [x509.NameAttribute(NameOID.ORGANIZATION_NAME, o) for o in organizations]
        names.append(x509.NameAttribute(NameOID.COMMON_NAME, common_name))
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name(names))
            .issuer_name(self._certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        alternative: list[x509.GeneralName] = [x509.DNSName(n) for n in dns_names]
        alternative += [x509.IPAddress(ipaddress.ip_address(a)) for a in ip_addresses]
        if alternative:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(alternative), critical=False
            )
        certificate = builder.sign(self._key, hashes.SHA256())
        return KeyPair(certificate.public_bytes(serialization.Encoding.PEM).decode(), _pem_key(key))


def _pem_key(key: ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _write_private(path: Path, text: str) -> Path:
    path.touch(mode=0o600)
    path.write_text(text, encoding="utf-8")
    return path


@dataclass(frozen=True)
class _Credentials:
    ca: Path
    server_cert: Path
    server_key: Path
    admin_cert: Path
    admin_key: Path
    sa_key: Path
    sa_public: Path


def _credentials(directory: Path) -> _Credentials:
    ca = ClusterCA("ociam test cluster CA")
    server = ca.issue(
        "kube-apiserver",
        dns_names=["localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"],
        ip_addresses=["127.0.0.1"],
    )
    admin = ca.issue("ociam-test-admin", organizations=["system:masters"], client=True)
    account_key = ec.generate_private_key(ec.SECP256R1())
    public = account_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _Credentials(
        ca=_write_private(directory / "ca.crt", ca.certificate_pem),
        server_cert=_write_private(directory / "apiserver.crt", server.certificate_pem),
        server_key=_write_private(directory / "apiserver.key", server.key_pem),
        admin_cert=_write_private(directory / "admin.crt", admin.certificate_pem),
        admin_key=_write_private(directory / "admin.key", admin.key_pem),
        sa_key=_write_private(directory / "sa.key", _pem_key(account_key)),
        sa_public=_write_private(directory / "sa.pub", public.decode()),
    )


def _b64(path: Path) -> str:
    import base64

    return base64.b64encode(path.read_bytes()).decode()


def write_kubeconfig(path: Path, server: str, creds: _Credentials, context: str) -> Path:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": context,
                "cluster": {"server": server, "certificate-authority-data": _b64(creds.ca)},
            }
        ],
        "users": [
            {
                "name": "admin",
                "user": {
                    "client-certificate-data": _b64(creds.admin_cert),
                    "client-key-data": _b64(creds.admin_key),
                },
            }
        ],
        "contexts": [{"name": context, "context": {"cluster": context, "user": "admin"}}],
        "current-context": context,
    }
    return _write_private(path, yaml.safe_dump(config, sort_keys=False))


# ---------------------------------------------------------------- the control plane


@dataclass(frozen=True)
class ControlPlane:
    """A running control plane: what tests and subprocesses need to reach it."""

    kubeconfig: Path
    server: str
    bin_dir: Path
    #: the temporary directory (removed at stop): logs/, the kubeconfig, credentials
    directory: Path
    client: KubeClient
    #: the kubeconfig's (only) context
    context: str
    #: the fake Nodes kwok runs pods on
    nodes: tuple[str, ...]
    #: the CRDs installed (metadata.name)
    crds: tuple[str, ...]
    #: seconds from the first process started to ready (CRDs Established, Nodes Ready)
    startup_seconds: float
    #: (phase, seconds since the start) as startup went
    startup_phases: tuple[tuple[str, float], ...]
    _supervisor: _Supervisor = field(repr=False, compare=False)

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default: this process's environment) with KUBECONFIG set and the
        toolchain's bin directory first on PATH."""
        merged = dict(os.environ if base is None else base)
        merged["KUBECONFIG"] = str(self.kubeconfig)
        merged["PATH"] = os.pathsep.join([str(self.bin_dir), merged.get("PATH", "")])
        return merged

    def log_tails(self, lines: int = 30) -> str:
        """The last lines of every component's log (for failure reports)."""
        return self._supervisor.log_tails(lines)

    def check_running(self) -> None:
        """ControlPlaneError when a component has exited."""
        self._supervisor.check_running()

    def stop(self) -> None:
        """Stop every component now (the context manager's exit then has nothing to do)."""
        self._supervisor.stop()


def crd_documents(crd_dir: Path) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions of every ``*.yaml`` in ``crd_dir``."""
    loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    documents = []
    for path in sorted(crd_dir.glob("*.yaml")):
        with path.open(encoding="utf-8") as handle:
            documents += [
                d
                for d in yaml.load_all(handle, Loader=loader)
                if d and d.get("kind") == "CustomResourceDefinition"
            ]
    if not documents:
        raise ControlPlaneError(f"no CustomResourceDefinition in {crd_dir} ({CRD_DIR_ENV})")
    return documents


def established(client: KubeClient, names: set[str]) -> bool | None:
    """True when every CRD named is Established (a probe for ``wait_for``)."""
    found, _ = client.request("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions")
    ready = {
        item["metadata"]["name"]
        for item in found["items"]
        if any(
            c["type"] == "Established" and c["status"] == "True"
            for c in (item.get("status") or {}).get("conditions") or []
        )
    }
    return True if names <= ready else None


def create_crds(client: KubeClient, documents: list[dict[str, Any]]) -> tuple[str, ...]:
    """Create the CRDs (a few at a time: the server compiles their schemas); their names."""

    def create(document: dict[str, Any]) -> None:
        path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
        client.request("POST", path, body=document)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(create, documents))
    return tuple(sorted(str(d["metadata"]["name"]) for d in documents))


def fake_node(name: str, zone: str) -> dict[str, Any]:
    """A Node kwok manages: labelled like a real one, with room for any test workload."""
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {FAKE_NODE_ANNOTATION: "fake"},
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "topology.kubernetes.io/region": "test",
                "topology.kubernetes.io/zone": zone,
                "type": "kwok",
            },
        },
        "status": {
            "allocatable": {"cpu": "64", "memory": "256Gi", "pods": "110"},
            "capacity": {"cpu": "64", "memory": "256Gi", "pods": "110"},
        },
    }


def _node_ready(client: KubeClient, name: str) -> bool | None:
    node = client.get("v1", "Node", name)
    conditions = ((node or {}).get("status") or {}).get("conditions") or []
    return True if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions) else None


class _Starter:
    """The startup sequence of one control plane (fails fast when a process exits)."""

    def __init__(self, supervisor: _Supervisor, bin_dir: Path) -> None:
        self.supervisor = supervisor
        self.bin_dir = bin_dir
        self.directory = supervisor.directory
        self.deadline = time.monotonic() + START_TIMEOUT
        self.started = time.monotonic()
        self.phases: list[tuple[str, float]] = []

    def mark(self, phase: str) -> None:
        """Note that ``phase`` is done (seconds since the start)."""
        self.phases.append((phase, round(time.monotonic() - self.started, 2)))

    def wait(self, what: str, probe: Callable[[], T | None]) -> T:
        def checked() -> T | None:
            self.supervisor.check_running()
            return probe()

        return wait_for(what, checked, max(1.0, self.deadline - time.monotonic()), 0.05)

    def etcd(self, client_port: int, peer_port: int) -> str:
        url = f"http://127.0.0.1:{client_port}"
        peer = f"http://127.0.0.1:{peer_port}"
        self.supervisor.start(
            "etcd",
            [
                str(self.bin_dir / "etcd"),
                "--name=test",
                f"--data-dir={self.directory / 'etcd'}",
                f"--listen-client-urls={url}",
                f"--advertise-client-urls={url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=test={peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        return url

    def apiserver(self, etcd: str, port: int, creds: _Credentials) -> None:
        self.supervisor.start(
            "kube-apiserver",
            [
                str(self.bin_dir / "kube-apiserver"),
                f"--etcd-servers={etcd}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={self.directory / 'apiserver'}",
                f"--tls-cert-file={creds.server_cert}",
                f"--tls-private-key-file={creds.server_key}",
                f"--client-ca-file={creds.ca}",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={creds.sa_public}",
                f"--service-account-signing-key-file={creds.sa_key}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--authorization-mode=Node,RBAC",
                "--enable-admission-plugins=NodeRestriction",
                # it taints new Nodes not-ready until the node-lifecycle controller (not
                # run: no kubelet heartbeats) lifts it; kwok's Nodes are Ready at once
                "--disable-admission-plugins=TaintNodesByCondition",
                "--allow-privileged=true",
                "--profiling=false",
                # the Endpoints of Service kubernetes may not be a loopback address
                "--endpoint-reconciler-type=none",
            ],
        )

    def controllers(self, kubeconfig: Path, creds: _Credentials) -> None:
        self.supervisor.start(
            "kube-controller-manager",
            [
                str(self.bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                f"--controllers={','.join(CONTROLLERS)}",
                f"--service-account-private-key-file={creds.sa_key}",
                f"--root-ca-file={creds.ca}",
                "--leader-elect=false",
                "--secure-port=0",
                "--controller-start-interval=0",
            ],
        )
        self.supervisor.start(
            "kube-scheduler",
            [
                str(self.bin_dir / "kube-scheduler"),
                f"--kubeconfig={kubeconfig}",
                "--leader-elect=false",
                "--secure-port=0",
            ],
        )

    def kwok(self, kubeconfig: Path) -> None:
        stages = self.bin_dir / "kwok-stages"
        configs = [f"--config={stages / name}" for name in KWOK_STAGES]
        self.supervisor.start(
            "kwok",
            [
                str(self.bin_dir / "kwok"),
                f"--kubeconfig={kubeconfig}",
                f"--manage-nodes-with-annotation-selector={FAKE_NODE_ANNOTATION}=fake",
                "--cidr=10.244.0.0/16",
                "--node-ip=127.0.0.1",
                *configs,
            ],
        )


def _missing_binaries(bin_dir: Path) -> list[str]:
    names = ["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"]
    absent = [n for n in names if not (bin_dir / n).is_file()]
    absent += [
        f"kwok-stages/{s}" for s in KWOK_STAGES if not (bin_dir / "kwok-stages" / s).is_file()
    ]
    return absent


def _start(supervisor: _Supervisor, bin_dir: Path, crd_dir: Path, nodes: int) -> ControlPlane:
    starter = _Starter(supervisor, bin_dir)
    directory = supervisor.directory
    creds = _credentials(directory)
    client_port, peer_port, api_port = free_ports(3)
    etcd = starter.etcd(client_port, peer_port)
    documents = crd_documents(crd_dir)  # parsed while etcd starts
    starter.wait("etcd healthy", lambda: _etcd_healthy(etcd))
    starter.mark("etcd healthy")
    server = f"https://127.0.0.1:{api_port}"
    starter.apiserver(etcd, api_port, creds)
    context = "ociam-test"
    kubeconfig = write_kubeconfig(directory / "kubeconfig", server, creds, context)
    client = KubeClient(server, creds.ca, creds.admin_cert, creds.admin_key)
    starter.wait("kube-apiserver ready", lambda: _ready(client))
    starter.mark("kube-apiserver ready")
    starter.controllers(kubeconfig, creds)
    starter.kwok(kubeconfig)
    names = tuple(f"kwok-node-{index}" for index in range(nodes))
    for index, name in enumerate(names):
        client.create(fake_node(name, f"zone-{index % 3}"))
    crds = create_crds(client, documents)
    starter.mark("CRDs created")
    starter.wait("CRDs Established", lambda: established(client, set(crds)))
    starter.mark("CRDs Established")
    for name in names:
        starter.wait(f"Node {name} Ready (kwok)", partial(_node_ready, client, name))
    starter.mark("Nodes Ready")
    starter.wait(
        "ServiceAccount default/default (kube-controller-manager)",
        lambda: client.get("v1", "ServiceAccount", "default", "default"),
    )
    starter.mark("controllers running")
    return ControlPlane(
        kubeconfig=kubeconfig,
        server=server,
        bin_dir=bin_dir,
        directory=directory,
        client=client,
        context=context,
        nodes=names,
        crds=crds,
        startup_seconds=round(time.monotonic() - starter.started, 2),
        startup_phases=tuple(starter.phases),
        _supervisor=supervisor,
    )


def _etcd_healthy(url: str) -> bool | None:
    session = requests.Session()
    session.trust_env = False
    answer = session.get(f"{url}/health", timeout=2)
    return True if answer.ok and answer.json().get("health") == "true" else None


def _ready(client: KubeClient) -> bool | None:
    try:
        answer, _ = client.request("GET", "/readyz")
    except ApiError:
        return None
    return True if answer == "ok" else None


@contextlib.contextmanager
def control_plane(
    bin_dir: Path, crd_dir: Path | None = None, nodes: int = 1
) -> Iterator[ControlPlane]:
    """Start a control plane (see the module docstring), yield it, stop it whatever happened.

    ControlPlaneError (with every component's log tail) when it does not start.
    """
    crd_dir = default_crd_dir() if crd_dir is None else crd_dir
    absent = _missing_binaries(bin_dir)
    if absent:
        raise ControlPlaneError(f"{bin_dir} lacks {', '.join(absent)}")
    if not crd_dir.is_dir():
        raise ControlPlaneError(f"{CRD_DIR_ENV}={crd_dir} is not a directory")
    _remove_orphans()
    supervisor = _Supervisor(Path(tempfile.mkdtemp(prefix=TEMP_PREFIX)))
    supervisor.log_dir.mkdir()
    (supervisor.directory / OWNER_FILE).write_text(str(os.getpid()), encoding="utf-8")
    _register(supervisor)
    try:
        try:
            plane = _start(supervisor, bin_dir, crd_dir, nodes)
        except (TimeoutError, ControlPlaneError, ApiError, requests.RequestException) as error:
            raise ControlPlaneError(
                f"control plane did not start: {error}\n{supervisor.log_tails(40)}"
            ) from error
        yield plane
    finally:
        supervisor.stop()
        with contextlib.suppress(ValueError):
            _LIVE.remove(supervisor)
