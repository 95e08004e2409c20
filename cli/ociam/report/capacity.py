"""What one city's render reserves and configures, read from its manifests and realm files.

Nothing here looks at the catalog: the figures are those of the objects a cluster
would be given. A pod's requests and limits follow Kubernetes' own rule (the
larger of its containers plus sidecars, and its heaviest init container plus the
sidecars started before it), with the namespace's LimitRange defaults filled in
where a container sets none, as admission would. A CloudNativePG ``Cluster`` is a
workload of ``instances`` pods: PostgreSQL plus the Barman Cloud plugin's sidecar
(``ObjectStore.spec.instanceSidecarConfiguration``), each with its volumes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ociam.report.quantity import bytes_of, millicores

Role = Literal["keycloak", "database", "job", "other"]
JsonObject = dict[str, Any]

POD_WORKLOADS = ("StatefulSet", "Deployment", "ReplicaSet", "Job", "CronJob")
REALM_FILE_PREFIX = "realm-"


class RenderShapeError(ValueError):
    """A rendered object the report cannot read (names the object and field)."""


@dataclass(frozen=True)
class Resources:
    """Requests and limits: CPU in millicores, memory in bytes; a limit of None is unbounded."""

    cpu_requests_m: int = 0
    cpu_limits_m: int | None = 0
    memory_requests: int = 0
    memory_limits: int | None = 0

    def __add__(self, other: Resources) -> Resources:
        return Resources(
            self.cpu_requests_m + other.cpu_requests_m,
            _add(self.cpu_limits_m, other.cpu_limits_m),
            self.memory_requests + other.memory_requests,
            _add(self.memory_limits, other.memory_limits),
        )

    def times(self, count: int) -> Resources:
        return Resources(
            self.cpu_requests_m * count,
            None if self.cpu_limits_m is None else self.cpu_limits_m * count,
            self.memory_requests * count,
            None if self.memory_limits is None else self.memory_limits * count,
        )

    def peak(self, other: Resources) -> Resources:
        """Each figure the larger of the two (an unbounded limit stays unbounded)."""
        return Resources(
            max(self.cpu_requests_m, other.cpu_requests_m),
            _max(self.cpu_limits_m, other.cpu_limits_m),
            max(self.memory_requests, other.memory_requests),
            _max(self.memory_limits, other.memory_limits),
        )

    def as_dict(self) -> dict[str, int | None]:
        return {
            "cpu_requests_millicores": self.cpu_requests_m,
            "cpu_limits_millicores": self.cpu_limits_m,
            "memory_requests_bytes": self.memory_requests,
            "memory_limits_bytes": self.memory_limits,
        }


def _add(first: int | None, second: int | None) -> int | None:
    return None if first is None or second is None else first + second


def _max(first: int | None, second: int | None) -> int | None:
    return None if first is None or second is None else max(first, second)


def total(resources: Iterable[Resources]) -> Resources:
    result = Resources()
    for item in resources:
        result = result + item
    return result


@dataclass(frozen=True)
class Workload:
    """Pods of one object: a StatefulSet, a Job, a database Cluster."""

    kind: str
    name: str
    role: Role
    pods: int
    per_pod: Resources
    storage_bytes: int = 0

    @property
    def resources(self) -> Resources:
        return self.per_pod.times(self.pods)

    @property
    def long_running(self) -> bool:
        """Jobs run to completion (realm configuration: minutes per change)."""
        return self.role != "job"

    def as_dict(self) -> JsonObject:
        return {
            "kind": self.kind,
            "name": self.name,
            "role": self.role,
            "pods": self.pods,
            "per_pod": self.per_pod.as_dict(),
            "total": self.resources.as_dict(),
            "storage_bytes": self.storage_bytes,
            "long_running": self.long_running,
        }


@dataclass(frozen=True)
class Realm:
    """One realm file: its clients (the applications) and identity brokers."""

    name: str
    applications: tuple[tuple[str, str], ...]
    identity_brokers: tuple[tuple[str, str], ...]
    user_federation: tuple[tuple[str, str], ...]

    def as_dict(self) -> JsonObject:
        return {
            "name": self.name,
            "applications": [{"client_id": c, "protocol": p} for c, p in self.applications],
            "identity_brokers": [{"alias": a, "provider": p} for a, p in self.identity_brokers],
            "user_federation": [{"name": n, "provider": p} for n, p in self.user_federation],
        }


@dataclass(frozen=True)
class CityCapacity:
    """Everything the report says about one rendered city."""

    env: str
    slug: str
    workloads: tuple[Workload, ...]
    keycloak_replicas: int
    database_instances: int
    database_storage_bytes: int
    backup_retention: str | None
    backup_schedule: str | None
    realms: tuple[Realm, ...] = field(default_factory=tuple)

    @property
    def long_running(self) -> Resources:
        return total(w.resources for w in self.workloads if w.long_running)

    @property
    def jobs(self) -> Resources:
        return total(w.resources for w in self.workloads if not w.long_running)

    @property
    def storage_bytes(self) -> int:
        return sum(w.storage_bytes for w in self.workloads)

    @property
    def applications(self) -> int:
        return sum(len(r.applications) for r in self.realms)

    @property
    def identity_brokers(self) -> int:
        return sum(len(r.identity_brokers) for r in self.realms)


def _where(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata", {})
    return f"{obj.get('kind')} {meta.get('namespace', '')}/{meta.get('name', '?')}"


def _limit_range_defaults(objects: Sequence[Mapping[str, Any]]) -> JsonObject:
    """``default`` and ``defaultRequest`` of the namespace's Container LimitRange."""
    for obj in objects:
        if obj.get("kind") != "LimitRange":
            continue
        for limit in obj.get("spec", {}).get("limits", []):
            if limit.get("type") == "Container":
                default = dict(limit.get("default", {}))
                # a LimitRange without defaultRequest requests its default limits
                return {
                    "limits": default,
                    "requests": {**default, **limit.get("defaultRequest", {})},
                }
    return {"limits": {}, "requests": {}}


def _container(container: Mapping[str, Any], defaults: JsonObject, where: str) -> Resources:
    resources = container.get("resources") or {}
    limits = {**defaults["limits"], **(resources.get("limits") or {})}
    # Kubernetes: a request left out defaults to the limit, then to the LimitRange default
    requests = {**defaults["requests"], **(resources.get("limits") or {})}
    requests.update(resources.get("requests") or {})
    try:
        return Resources(
            millicores(requests.get("cpu", 0)),
            millicores(limits["cpu"]) if "cpu" in limits else None,
            bytes_of(requests.get("memory", 0)),
            bytes_of(limits["memory"]) if "memory" in limits else None,
        )
    except ValueError as exc:
        raise RenderShapeError(f"{where}: container {container.get('name')}: {exc}") from exc


def pod_resources(spec: Mapping[str, Any], defaults: JsonObject, where: str) -> Resources:
    """Kubernetes' effective requests and limits of a pod (sidecar-aware)."""
    regular = total(_container(c, defaults, where) for c in spec.get("containers", []))
    sidecars = Resources()
    init_peak = Resources()
    for init in spec.get("initContainers", []):
        resources = _container(init, defaults, where)
        if init.get("restartPolicy") == "Always":
            sidecars = sidecars + resources
            init_peak = init_peak.peak(sidecars)
        else:
            init_peak = init_peak.peak(sidecars + resources)
    return (regular + sidecars).peak(init_peak)


def _role(obj: Mapping[str, Any]) -> Role:
    kind = obj.get("kind")
    if kind in ("Job", "CronJob"):
        return "job"
    if kind == "Cluster":
        return "database"
    labels = obj.get("metadata", {}).get("labels", {})
    if labels.get("app.kubernetes.io/name") == "keycloak":
        return "keycloak"
    return "other"


def _claims_bytes(claims: Iterable[Mapping[str, Any]], where: str) -> int:
    try:
        return sum(
            bytes_of(c.get("spec", {}).get("resources", {}).get("requests", {}).get("storage", 0))
            for c in claims
        )
    except ValueError as exc:
        raise RenderShapeError(f"{where}: volume claim: {exc}") from exc


def _pod_workload(obj: Mapping[str, Any], defaults: JsonObject) -> Workload:
    where = _where(obj)
    kind = str(obj["kind"])
    spec = obj.get("spec", {})
    if kind == "CronJob":
        spec = spec.get("jobTemplate", {}).get("spec", {})
    if kind in ("Job", "CronJob"):
        pods = int(spec.get("parallelism", 1))
    else:
        pods = int(spec.get("replicas", 1))
    template = spec.get("template", {}).get("spec")
    if template is None:
        raise RenderShapeError(f"{where}: no spec.template.spec")
    per_claim = _claims_bytes(spec.get("volumeClaimTemplates", []), where)
    return Workload(
        kind=kind,
        name=str(obj.get("metadata", {}).get("name")),
        role=_role(obj),
        pods=pods,
        per_pod=pod_resources(template, defaults, where),
        storage_bytes=per_claim * pods,
    )


def _database_workload(
    cluster: Mapping[str, Any], stores: Mapping[str, Mapping[str, Any]], defaults: JsonObject
) -> Workload:
    """A CloudNativePG Cluster: ``instances`` pods of PostgreSQL and the backup sidecar."""
    where = _where(cluster)
    spec = cluster.get("spec", {})
    instances = int(spec.get("instances", 1))
    containers: list[JsonObject] = [{"name": "postgres", "resources": spec.get("resources") or {}}]
    for plugin in spec.get("plugins", []):
        store = (plugin.get("parameters") or {}).get("barmanObjectName")
        if store is None:
            continue
        if store not in stores:
            raise RenderShapeError(f"{where}: plugin {plugin.get('name')}: no ObjectStore {store}")
        sidecar = stores[store].get("spec", {}).get("instanceSidecarConfiguration", {})
        containers.append(
            {"name": f"{plugin.get('name')} sidecar", "resources": sidecar.get("resources") or {}}
        )
    try:
        per_instance = sum(
            bytes_of(spec.get(volume, {}).get("size", 0)) for volume in ("storage", "walStorage")
        )
    except ValueError as exc:
        raise RenderShapeError(f"{where}: storage: {exc}") from exc
    return Workload(
        kind="Cluster",
        name=str(cluster.get("metadata", {}).get("name")),
        role="database",
        pods=instances,
        per_pod=pod_resources({"containers": containers}, defaults, where),
        storage_bytes=per_instance * instances,
    )


def _pairs(
    items: Iterable[Mapping[str, Any]], first: str, second: str
) -> tuple[tuple[str, str], ...]:
    return tuple((str(item.get(first)), str(item.get(second))) for item in items)


def realms_of(files: Mapping[str, str]) -> tuple[Realm, ...]:
    """The realm files of a render (``realm-<name>.json``)."""
    realms: list[Realm] = []
    for path in sorted(files):
        if not (path.startswith(REALM_FILE_PREFIX) and path.endswith(".json")):
            continue
        try:
            data = json.loads(files[path])
        except json.JSONDecodeError as exc:
            raise RenderShapeError(f"{path}: not JSON: {exc}") from exc
        components = data.get("components", {})
        realms.append(
            Realm(
                name=str(data.get("realm")),
                applications=_pairs(data.get("clients", []), "clientId", "protocol"),
                identity_brokers=_pairs(data.get("identityProviders", []), "alias", "providerId"),
                user_federation=_pairs(
                    components.get("org.keycloak.storage.UserStorageProvider", []),
                    "name",
                    "providerId",
                ),
            )
        )
    return tuple(realms)


def city_capacity(
    env: str, slug: str, objects: Sequence[Mapping[str, Any]], files: Mapping[str, str]
) -> CityCapacity:
    """Read one city's render: its objects and its files (realm JSON)."""
    defaults = _limit_range_defaults(objects)
    stores = {
        str(o.get("metadata", {}).get("name")): o for o in objects if o.get("kind") == "ObjectStore"
    }
    workloads: list[Workload] = []
    for obj in objects:
        kind = obj.get("kind")
        if kind in POD_WORKLOADS:
            workloads.append(_pod_workload(obj, defaults))
        elif kind == "Cluster" and str(obj.get("apiVersion", "")).startswith("postgresql.cnpg.io/"):
            workloads.append(_database_workload(obj, stores, defaults))
        elif kind == "PersistentVolumeClaim":
            storage = _claims_bytes([obj], _where(obj))
            workloads.append(
                Workload(kind, str(obj["metadata"]["name"]), "other", 0, Resources(), storage)
            )
    keycloak = [w for w in workloads if w.role == "keycloak"]
    databases = [w for w in workloads if w.role == "database"]
    retention = next(
        (o["spec"].get("retentionPolicy") for o in stores.values() if "spec" in o), None
    )
    schedule = next(
        (o.get("spec", {}).get("schedule") for o in objects if o.get("kind") == "ScheduledBackup"),
        None,
    )
    return CityCapacity(
        env=env,
        slug=slug,
        workloads=tuple(workloads),
        keycloak_replicas=sum(w.pods for w in keycloak),
        database_instances=sum(w.pods for w in databases),
        database_storage_bytes=sum(w.storage_bytes for w in databases),
        backup_retention=None if retention is None else str(retention),
        backup_schedule=None if schedule is None else str(schedule),
        realms=realms_of(files),
    )
