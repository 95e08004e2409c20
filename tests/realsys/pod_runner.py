"""Run a rendered pod template under podman the way a kubelet would.

A test stand-in for a kubelet (none can run on the build machines), strict on
purpose: it runs the template **as rendered** and refuses what it cannot honour
instead of dropping it. Nothing here edits the spec to make a pod pass; if a
rendered pod cannot run, the render is what gets fixed.

What it does, kubelet-like:

- one podman pod per Kubernetes pod (shared network, IPC and UTS namespaces),
  on a podman network that stands in for the pod network; ``hostname`` and
  ``subdomain`` as a StatefulSet sets them, ``hostAliases`` in /etc/hosts;
- init containers one after the other, each to a zero exit, then the
  containers; ``command``/``args`` replace the image's entrypoint/cmd, with
  ``$(VAR)`` expansion;
- ``env`` and ``envFrom`` including ``valueFrom`` of Secrets and ConfigMaps
  from a :class:`ClusterState` (the rendered objects, ``<secret>``
  placeholders given test values, plus what operators would create);
- volumes: ``emptyDir`` fresh per pod (world-writable, group ``fsGroup``,
  ``sizeLimit`` watched as an eviction), ``configMap`` and ``secret`` as files
  with their modes and items, always read-only, ``readOnly`` mounts;
- the securityContext enforced: ``readOnlyRootFilesystem`` (no tmpfs
  anywhere the spec does not mount one), ``runAsUser``/``runAsGroup``,
  ``fsGroup`` and ``supplementalGroups``, ``runAsNonRoot`` checked against
  the image, capabilities dropped and added, ``allowPrivilegeEscalation:
  false`` as no-new-privileges, the runtime's default seccomp profile;
- resource limits as CPU and memory limits (no swap), CPU requests as shares;
- startup, readiness and liveness probes (httpGet, tcpSocket, exec) polled
  with the rendered delays, periods, timeouts and thresholds; where a kubelet
  would restart a container (a failed startup or liveness probe, an exit) the
  container is stopped and counted as failed;
- termination: the ``preStop`` hook, then SIGTERM with the grace period.

What it cannot be: a registry (images map to locally built stand-ins, see
tests/realsys/images.py), a Service proxy (names resolve through podman
network aliases), a CNI with NetworkPolicy enforcement, or a node with a
kubelet's cgroup hierarchy.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.realsys.quantities import cpu_cores, memory_bytes

Json = dict[str, Any]
TEST_LABEL = "ociam.test"
#: Kubernetes' defaults for a probe that does not set them
PROBE_DEFAULTS = {
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 1,
    "successThreshold": 1,
    "failureThreshold": 3,
}
SECRET_PLACEHOLDER = "<secret>"


class PodError(RuntimeError):
    """The pod cannot run as rendered; the message reads like the kubelet's event."""


def podman(*args: str, check: bool = True, timeout: float | None = 600) -> str:
    result = subprocess.run(
        ["podman", *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if check and result.returncode != 0:
        raise PodError(f"podman {' '.join(args[:3])} ...: {result.stderr.strip()[-3000:]}")
    return result.stdout


def exists(kind: str, name: str) -> bool:
    """Whether podman has the ``kind`` (container, image, pod, network) called ``name``."""
    result = subprocess.run(
        ["podman", kind, "exists", name], capture_output=True, check=False, timeout=60
    )
    return result.returncode == 0


def remove_test_objects() -> None:
    """Pods, containers and networks an interrupted earlier run left behind."""
    label = f"label={TEST_LABEL}"
    pods = podman("pod", "ps", "--quiet", "--filter", f"{label}=pod", check=False).split()
    if pods:
        podman("pod", "rm", "--force", "--time", "0", *pods, check=False)
    for kind in ("postgresql", "container"):
        ids = podman("ps", "--all", "--quiet", "--filter", f"{label}={kind}", check=False).split()
        if ids:
            podman("rm", "--force", "--time", "0", *ids, check=False)
    networks = podman("network", "ls", "--quiet", "--filter", f"{label}=network", check=False)
    for network in networks.split():
        podman("network", "rm", "--force", network, check=False)


# --- what the API server would hand the kubelet -------------------------------------


@dataclass
class ClusterState:
    """Secrets and ConfigMaps of one namespace, as a kubelet reads them."""

    namespace: str
    secrets: dict[str, dict[str, bytes]] = field(default_factory=dict)
    config_maps: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def from_manifests(
        cls,
        namespace: str,
        objects: Iterable[Json],
        secret_value: Callable[[str, str], str],
    ) -> ClusterState:
        """The namespace's Secrets and ConfigMaps; each ``<secret>`` value becomes
        ``secret_value(secret_name, key)``."""
        state = cls(namespace)
        for obj in objects:
            meta = obj.get("metadata", {})
            if meta.get("namespace", namespace) != namespace:
                continue
            if obj.get("kind") == "Secret":
                data = {k: base64.b64decode(v) for k, v in (obj.get("data") or {}).items()}
                for key, value in (obj.get("stringData") or {}).items():
                    text = secret_value(meta["name"], key) if value == SECRET_PLACEHOLDER else value
                    data[key] = str(text).encode()
                state.secrets[meta["name"]] = data
            elif obj.get("kind") == "ConfigMap":
                cm = dict(obj.get("data") or {})
                for key, value in (obj.get("binaryData") or {}).items():
                    cm[key] = base64.b64decode(value).decode()
                state.config_maps[meta["name"]] = cm
        return state

    def add_secret(self, name: str, data: Mapping[str, str | bytes]) -> None:
        self.secrets[name] = {k: v.encode() if isinstance(v, str) else v for k, v in data.items()}

    def secret(self, name: str) -> dict[str, bytes]:
        try:
            return self.secrets[name]
        except KeyError:
            raise PodError(f'CreateContainerConfigError: secret "{name}" not found') from None

    def config_map(self, name: str) -> dict[str, str]:
        try:
            return self.config_maps[name]
        except KeyError:
            raise PodError(f'CreateContainerConfigError: configmap "{name}" not found') from None


def expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined names replaced, ``$$`` escapes."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", replace, value)


def resolve_env(container: Json, state: ClusterState, fields: Mapping[str, str]) -> dict[str, str]:
    """The container's environment, in order, as the kubelet builds it."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        if "secretRef" in source:
            ref = source["secretRef"]
            if ref["name"] not in state.secrets and ref.get("optional"):
                continue
            for key, raw in state.secret(ref["name"]).items():
                env[prefix + key] = raw.decode()
        elif "configMapRef" in source:
            ref = source["configMapRef"]
            if ref["name"] not in state.config_maps and ref.get("optional"):
                continue
            for key, text in state.config_map(ref["name"]).items():
                env[prefix + key] = text
        else:
            raise PodError(f"envFrom source {source} is not supported by the test kubelet")
    for item in container.get("env") or []:
        name = item["name"]
        if "value" in item:
            env[name] = expand(str(item["value"]), env)
            continue
        source = item.get("valueFrom") or {}
        if "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            data = state.secrets.get(ref["name"])
            if data is None or ref["key"] not in data:
                if ref.get("optional"):
                    continue
                data = state.secret(ref["name"])
                raise PodError(
                    f"CreateContainerConfigError: couldn't find key {ref['key']} "
                    f"in Secret {state.namespace}/{ref['name']}"
                )
            env[name] = data[ref["key"]].decode()
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            cm = state.config_maps.get(ref["name"])
            if cm is None or ref["key"] not in cm:
                if ref.get("optional"):
                    continue
                cm = state.config_map(ref["name"])
                raise PodError(
                    f"CreateContainerConfigError: couldn't find key {ref['key']} "
                    f"in ConfigMap {state.namespace}/{ref['name']}"
                )
            env[name] = cm[ref["key"]]
        elif "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            if path not in fields:
                raise PodError(f"fieldRef {path} is not supported by the test kubelet")
            env[name] = fields[path]
        else:
            raise PodError(f"env {name}: valueFrom {source} is not supported by the test kubelet")
    return env


# --- containers -----------------------------------------------------------------


@dataclass
class ProbeResult:
    at: float
    kind: str
    ok: bool
    detail: str


@dataclass
class ContainerStatus:
    name: str
    started: bool = False
    ready: bool = False
    #: why a kubelet would have restarted it (empty: it never would have)
    failures: list[str] = field(default_factory=list)
    probes: list[ProbeResult] = field(default_factory=list)
    started_at: float | None = None

    def passes(self, kind: str, since: float) -> list[ProbeResult]:
        return [p for p in self.probes if p.kind == kind and p.at >= since]


def _probe_settings(probe: Json) -> Json:
    return {**PROBE_DEFAULTS, **probe}


def _named_port(container: Json, port: int | str) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for item in container.get("ports") or []:
        if item.get("name") == port:
            return int(item["containerPort"])
    raise PodError(f"probe port '{port}' is not a port of container {container['name']}")


def _security(pod_spec: Json, container: Json) -> Json:
    merged = {**(pod_spec.get("securityContext") or {})}
    merged.update(container.get("securityContext") or {})
    return merged


@dataclass
class Volume:
    name: str
    host_path: Path
    always_read_only: bool
    size_limit: int | None = None


class Pod:
    """One Kubernetes pod from a rendered template, run under podman."""

    def __init__(
        self,
        *,
        name: str,
        template: Json,
        state: ClusterState,
        network: str,
        images: Mapping[str, str],
        work_dir: Path,
        hostname: str | None = None,
        subdomain: str | None = None,
        aliases: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.template = template
        self.spec: Json = template["spec"]
        self.state = state
        self.network = network
        self.images = images
        self.work_dir = work_dir / name
        self.hostname = hostname or self.spec.get("hostname") or name
        self.subdomain = subdomain or self.spec.get("subdomain")
        self.aliases = list(aliases)
        self.statuses: dict[str, ContainerStatus] = {}
        self.init_logs: dict[str, str] = {}
        self.ip: str | None = None
        self._volumes: dict[str, Volume] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._refuse_unsupported()

    # --- lifecycle ---

    def start(self, init_timeout: float = 900) -> None:
        """Create the pod, run the init containers to completion, start the containers."""
        self._prepare_volumes()
        self._create_pod()
        for container in self.spec.get("initContainers") or []:
            self._run_init(container, init_timeout)
        for container in self.spec["containers"]:
            self._start_container(container)

    def stop(self) -> None:
        """preStop hooks, then SIGTERM with the grace period; the pod is removed."""
        self._stop.set()
        grace = int(self.spec.get("terminationGracePeriodSeconds", 30))
        for container in self.spec.get("containers", []):
            name = self._container_name(container)
            if exists("container", name):
                self._pre_stop(container)
                podman("stop", "--time", str(grace), name, check=False, timeout=grace + 60)
        for thread in self._threads:
            thread.join(timeout=30)
        podman("pod", "rm", "--force", "--time", "0", self.name, check=False, timeout=120)

    def run_to_completion(self, timeout: float = 900) -> dict[str, int]:
        """For Job pods (restartPolicy Never): start, wait for every container, exit codes."""
        self.start()
        codes = {}
        for container in self.spec["containers"]:
            codes[container["name"]] = self._wait_exit(self._container_name(container), timeout)
        return codes

    # --- state ---

    @property
    def ready(self) -> bool:
        return bool(self.statuses) and all(s.ready for s in self.statuses.values())

    @property
    def failures(self) -> list[str]:
        return [f"{s.name}: {f}" for s in self.statuses.values() for f in s.failures]

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.failures:
                raise PodError(
                    f"pod {self.name} failed: {'; '.join(self.failures)}\n{self.log_tails()}"
                )
            if self.ready:
                return
            time.sleep(1)
        raise PodError(f"pod {self.name} not ready after {timeout:.0f} s; {self.describe()}")

    def describe(self) -> str:
        parts = []
        for status in self.statuses.values():
            last = status.probes[-1] if status.probes else None
            parts.append(
                f"{status.name}: started={status.started} ready={status.ready} "
                f"failures={status.failures} last probe={last}"
            )
        return "; ".join(parts) or "no container started"

    def log_tails(self, lines: int = 40) -> str:
        """The last lines of each failed container's log, for the failure report (the
        bootstrap admin password is never logged by Keycloak; the logs are the
        container's own)."""
        tails = []
        for status in self.statuses.values():
            if status.failures:
                text = self.logs(status.name).splitlines()[-lines:]
                tails.append(f"--- {status.name} (last {len(text)} lines)\n" + "\n".join(text))
        return "\n".join(tails)

    def logs(self, container: str) -> str:
        name = f"{self.name}-{container}"
        result = subprocess.run(
            ["podman", "logs", name], capture_output=True, text=True, check=False, timeout=120
        )
        return result.stdout + result.stderr

    # --- spec checks ---

    def _refuse_unsupported(self) -> None:
        spec = self.spec
        if spec.get("automountServiceAccountToken", True):
            raise PodError(
                "automountServiceAccountToken is not false: the test kubelet has no API "
                "server token to mount"
            )
        for key in ("hostNetwork", "hostPID", "hostIPC", "shareProcessNamespace"):
            if spec.get(key):
                raise PodError(f"{key} is not supported by the test kubelet")
        for container in [*(spec.get("initContainers") or []), *spec["containers"]]:
            if container.get("image") not in self.images:
                raise PodError(
                    f"ErrImagePull: {container.get('image')} (container {container['name']}) "
                    "has no local stand-in image; known: " + ", ".join(sorted(self.images))
                )
            security = _security(spec, container)
            if security.get("privileged"):
                raise PodError(f"container {container['name']}: privileged is not supported")
            profile = (security.get("seccompProfile") or {}).get("type", "RuntimeDefault")
            if profile not in {"RuntimeDefault", "Unconfined"}:
                raise PodError(f"seccompProfile {profile} is not supported by the test kubelet")
            if (container.get("lifecycle") or {}).get("postStart"):
                raise PodError("postStart hooks are not supported by the test kubelet")

    # --- volumes ---

    def _prepare_volumes(self) -> None:
        if self.work_dir.exists():
            shutil.rmtree(self.work_dir)
        root = self.work_dir / "volumes"
        root.mkdir(parents=True)
        fs_group = (self.spec.get("securityContext") or {}).get("fsGroup")
        for volume in self.spec.get("volumes") or []:
            path = root / volume["name"]
            path.mkdir()
            if "emptyDir" in volume:
                empty = volume["emptyDir"] or {}
                if empty.get("medium"):
                    raise PodError(f"emptyDir medium {empty['medium']} is not supported")
                path.chmod(0o777)
                if fs_group is not None:
                    os.chown(path, 0, int(fs_group))
                    path.chmod(0o2777)
                limit = empty.get("sizeLimit")
                self._volumes[volume["name"]] = Volume(
                    volume["name"], path, False, memory_bytes(limit) if limit else None
                )
            elif "configMap" in volume or "secret" in volume:
                self._project(volume, path, fs_group)
                self._volumes[volume["name"]] = Volume(volume["name"], path, True)
            else:
                kinds = sorted(set(volume) - {"name"})
                raise PodError(f"volume {volume['name']}: {kinds} is not supported")

    def _project(self, volume: Json, path: Path, fs_group: int | None) -> None:
        if "configMap" in volume:
            source = volume["configMap"]
            name = source["name"]
            optional = source.get("optional", False)
            data = (
                {k: v.encode() for k, v in self.state.config_map(name).items()}
                if name in self.state.config_maps or not optional
                else {}
            )
        else:
            source = volume["secret"]
            name = source["secretName"]
            optional = source.get("optional", False)
            data = self.state.secret(name) if name in self.state.secrets or not optional else {}
        default_mode = int(source.get("defaultMode", 0o644))
        items = source.get("items")
        selected = (
            [(i["key"], i["path"], int(i.get("mode", default_mode))) for i in items]
            if items
            else [(k, k, default_mode) for k in data]
        )
        for key, relative, mode in selected:
            if key not in data:
                raise PodError(f"volume {volume['name']}: key {key} not found in {name}")
            target = path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data[key])
            os.chown(target, 0, int(fs_group) if fs_group is not None else 0)
            target.chmod(mode)
        path.chmod(0o755)

    def _mount_args(self, container: Json) -> list[str]:
        args = []
        for mount in container.get("volumeMounts") or []:
            volume = self._volumes.get(mount["name"])
            if volume is None:
                raise PodError(f"volumeMount {mount['name']}: no such volume in the pod")
            source = volume.host_path / mount.get("subPath", "")
            read_only = volume.always_read_only or mount.get("readOnly", False)
            options = "ro" if read_only else "rw"
            args += ["--volume", f"{source}:{mount['mountPath']}:{options}"]
        return args

    # --- podman ---

    def _container_name(self, container: Json) -> str:
        return f"{self.name}-{container['name']}"

    def _create_pod(self) -> None:
        podman("pod", "rm", "--force", "--time", "0", self.name, check=False)
        network = self.network
        if self.aliases:
            network += ":" + ",".join(f"alias={a}" for a in self.aliases)
        args = [
            "pod",
            "create",
            "--name",
            self.name,
            "--label",
            f"{TEST_LABEL}=pod",
            "--network",
            network,
            "--hostname",
            self.hostname,
        ]
        for alias in self.spec.get("hostAliases") or []:
            for host in alias["hostnames"]:
                args += ["--add-host", f"{host}:{alias['ip']}"]
        podman(*args)
        podman("pod", "start", self.name)
        infra = podman("pod", "inspect", "--format", "{{.InfraContainerID}}", self.name).strip()
        addresses = json.loads(
            podman("inspect", "--format", "{{json .NetworkSettings.Networks}}", infra)
        )
        self.ip = addresses[self.network]["IPAddress"]

    def _fields(self) -> dict[str, str]:
        return {
            "metadata.name": self.name,
            "metadata.namespace": self.state.namespace,
            "status.podIP": self.ip or "",
            "spec.nodeName": "ociam-test-node",
            "spec.serviceAccountName": self.spec.get("serviceAccountName", "default"),
        }

    def _image_user(self, image: str) -> str:
        return podman("image", "inspect", "--format", "{{.Config.User}}", image).strip()

    def _run_args(self, container: Json) -> list[str]:
        spec = self.spec
        security = _security(spec, container)
        image = self.images[container["image"]]
        args = [
            "--pod",
            self.name,
            "--name",
            self._container_name(container),
            "--label",
            f"{TEST_LABEL}=container",
            "--pull=never",
        ]
        user = security.get("runAsUser")
        group = security.get("runAsGroup")
        if user is None:
            image_user = self._image_user(image).split(":")[0] or "0"
            if security.get("runAsNonRoot") and not image_user.isdigit():
                raise PodError(
                    f"container {container['name']}: runAsNonRoot and image has non-numeric "
                    f"user ({image_user}), cannot verify user is non-root"
                )
            user = int(image_user) if image_user.isdigit() else None
        if security.get("runAsNonRoot") and user == 0:
            raise PodError(
                f"container {container['name']}: runAsNonRoot and the container runs as root"
            )
        if user is not None:
            args += ["--user", f"{user}:{group}" if group is not None else str(user)]
        pod_security = spec.get("securityContext") or {}
        groups = list(pod_security.get("supplementalGroups") or [])
        if pod_security.get("fsGroup") is not None:
            groups.append(pod_security["fsGroup"])
        for gid in groups:
            args += ["--group-add", str(gid)]
        if security.get("readOnlyRootFilesystem"):
            args += ["--read-only", "--read-only-tmpfs=false"]
        capabilities = security.get("capabilities") or {}
        for cap in capabilities.get("drop") or []:
            args += ["--cap-drop", cap.lower()]
        for cap in capabilities.get("add") or []:
            args += ["--cap-add", cap.lower()]
        if security.get("allowPrivilegeEscalation") is False:
            args += ["--security-opt", "no-new-privileges"]
        if (security.get("seccompProfile") or {}).get("type") == "Unconfined":
            args += ["--security-opt", "seccomp=unconfined"]
        resources = container.get("resources") or {}
        limits = resources.get("limits") or {}
        requests = resources.get("requests") or {}
        if "cpu" in limits:
            args += ["--cpus", f"{cpu_cores(limits['cpu']):.3f}"]
        if "memory" in limits:
            memory = memory_bytes(limits["memory"])
            args += ["--memory", str(memory), "--memory-swap", str(memory)]
        if "cpu" in requests:
            args += ["--cpu-shares", str(max(2, int(cpu_cores(requests["cpu"]) * 1024)))]
        env = resolve_env(container, self.state, self._fields())
        for key, value in env.items():
            args += ["--env", f"{key}={value}"]
        args += self._mount_args(container)
        if container.get("workingDir"):
            args += ["--workdir", container["workingDir"]]
        command = [expand(c, env) for c in container.get("command") or []]
        if command:
            args += ["--entrypoint", json.dumps(command)]
        grace = int(spec.get("terminationGracePeriodSeconds", 30))
        args += ["--stop-timeout", str(grace), image]
        args += [expand(a, env) for a in container.get("args") or []]
        return args

    def _run_init(self, container: Json, timeout: float) -> None:
        name = self._container_name(container)
        podman("run", "--detach", *self._run_args(container))
        code = self._wait_exit(name, timeout)
        self.init_logs[container["name"]] = self.logs(container["name"])
        if code != 0:
            tail = "\n".join(self.init_logs[container["name"]].splitlines()[-40:])
            raise PodError(f"Init:Error: init container {container['name']} exited {code}:\n{tail}")

    def _wait_exit(self, name: str, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            state = json.loads(podman("inspect", "--format", "{{json .State}}", name))
            if state["Status"] in {"exited", "stopped"}:
                return int(state["ExitCode"])
            self._check_size_limits(name)
            time.sleep(1)
        podman("kill", name, check=False)
        raise PodError(f"container {name} did not finish within {timeout:.0f} s")

    def _check_size_limits(self, context: str) -> None:
        for volume in self._volumes.values():
            if volume.size_limit is None:
                continue
            used = sum(p.stat().st_size for p in volume.host_path.rglob("*") if p.is_file())
            if used > volume.size_limit:
                raise PodError(
                    f"Evicted ({context}): emptyDir {volume.name} uses {used} bytes, "
                    f"over its sizeLimit of {volume.size_limit}"
                )

    def _start_container(self, container: Json) -> None:
        status = ContainerStatus(container["name"])
        self.statuses[container["name"]] = status
        podman("run", "--detach", *self._run_args(container))
        status.started_at = time.monotonic()
        thread = threading.Thread(
            target=self._watch, args=(container, status), name=f"probe-{self.name}", daemon=True
        )
        thread.start()
        self._threads.append(thread)

    # --- probes ---

    def _probe(self, container: Json, probe: Json) -> tuple[bool, str]:
        timeout = float(probe["timeoutSeconds"])
        if "httpGet" in probe:
            get = probe["httpGet"]
            if get.get("scheme", "HTTP") != "HTTP":
                raise PodError("httpGet probes over HTTPS are not supported by the test kubelet")
            port = _named_port(container, get["port"])
            host = get.get("host") or self.ip or ""
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
            headers = {h["name"]: h["value"] for h in get.get("httpHeaders") or []}
            headers.setdefault("User-Agent", "kube-probe/ociam-test")
            try:
                connection.request("GET", get.get("path", "/"), headers=headers)
                response = connection.getresponse()
                body = response.read(300).decode(errors="replace")
            except (OSError, http.client.HTTPException) as error:
                return False, f"GET {get.get('path')}: {error}"
            finally:
                connection.close()
            return 200 <= response.status < 400, f"HTTP {response.status} {body}"
        if "tcpSocket" in probe:
            port = _named_port(container, probe["tcpSocket"]["port"])
            try:
                with socket.create_connection((self.ip or "", port), timeout=timeout):
                    return True, f"tcp {port} open"
            except OSError as error:
                return False, f"tcp {port}: {error}"
        if "exec" in probe:
            result = subprocess.run(
                ["podman", "exec", self._container_name(container), *probe["exec"]["command"]],
                capture_output=True,
                text=True,
                check=False,
                timeout=timeout + 10,
            )
            return result.returncode == 0, (result.stdout + result.stderr)[-300:]
        raise PodError(f"probe {sorted(probe)} is not supported by the test kubelet")

    def _running(self, container: Json) -> tuple[bool, str]:
        state = json.loads(
            podman(
                "inspect",
                "--format",
                "{{json .State}}",
                self._container_name(container),
                check=False,
            )
            or "{}"
        )
        if state.get("Status") == "running":
            return True, ""
        return False, f"container exited with code {state.get('ExitCode')} ({state.get('Status')})"

    def _fail(self, container: Json, status: ContainerStatus, reason: str) -> None:
        status.failures.append(reason)
        status.ready = False
        podman("stop", "--time", "5", self._container_name(container), check=False)

    def _watch(self, container: Json, status: ContainerStatus) -> None:
        """The kubelet's prober for one container (startup, then readiness and liveness)."""
        probes = {
            kind: _probe_settings(container[key])
            for kind, key in (
                ("startup", "startupProbe"),
                ("readiness", "readinessProbe"),
                ("liveness", "livenessProbe"),
            )
            if container.get(key)
        }
        start = status.started_at or time.monotonic()
        due = {kind: start + p["initialDelaySeconds"] for kind, p in probes.items()}
        failures = dict.fromkeys(probes, 0)
        successes = dict.fromkeys(probes, 0)
        status.started = "startup" not in probes
        if "readiness" not in probes:
            status.ready = status.started
        while not self._stop.is_set():
            running, why = self._running(container)
            if not running:
                if not self._stop.is_set():
                    self._fail(container, status, why)
                return
            try:
                self._check_size_limits(container["name"])
            except PodError as error:
                self._fail(container, status, str(error))
                return
            now = time.monotonic()
            for kind in [k for k in ("startup", "liveness", "readiness") if k in probes]:
                if kind == "startup" and status.started:
                    continue
                if kind != "startup" and not status.started:
                    continue
                if now < due[kind]:
                    continue
                probe = probes[kind]
                due[kind] = now + probe["periodSeconds"]
                ok, detail = self._probe(container, probe)
                status.probes.append(ProbeResult(time.time(), kind, ok, detail))
                if ok:
                    failures[kind] = 0
                    successes[kind] += 1
                else:
                    successes[kind] = 0
                    failures[kind] += 1
                if kind == "startup":
                    if ok and successes[kind] >= probe["successThreshold"]:
                        status.started = True
                        started = time.monotonic()
                        for other in ("readiness", "liveness"):
                            if other in probes:
                                due[other] = started + probes[other]["initialDelaySeconds"]
                        if "readiness" not in probes:
                            status.ready = True
                    elif failures[kind] >= probe["failureThreshold"]:
                        self._fail(
                            container,
                            status,
                            f"startup probe failed {failures[kind]} times: {detail}",
                        )
                        return
                elif kind == "liveness" and failures[kind] >= probe["failureThreshold"]:
                    self._fail(
                        container, status, f"liveness probe failed {failures[kind]} times: {detail}"
                    )
                    return
                elif kind == "readiness":
                    if ok and successes[kind] >= probe["successThreshold"]:
                        status.ready = True
                    elif failures[kind] >= probe["failureThreshold"]:
                        status.ready = False
            self._stop.wait(0.5)

    def _pre_stop(self, container: Json) -> None:
        hook = (container.get("lifecycle") or {}).get("preStop") or {}
        if "sleep" in hook:
            time.sleep(int(hook["sleep"]["seconds"]))
        elif "exec" in hook:
            subprocess.run(
                ["podman", "exec", self._container_name(container), *hook["exec"]["command"]],
                capture_output=True,
                check=False,
                timeout=int(self.spec.get("terminationGracePeriodSeconds", 30)),
            )
        elif hook:
            raise PodError(f"preStop hook {sorted(hook)} is not supported by the test kubelet")
