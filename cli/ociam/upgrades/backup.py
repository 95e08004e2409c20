"""The backup gate: the last completed CloudNativePG ``Backup`` of a city, how old it is,
and on-demand backups (``ociam backup``).

What counts: ``postgresql.cnpg.io/v1`` Backups in the city namespace for the city's
Cluster with ``status.phase: completed`` and a ``status.stoppedAt``; the newest one.
Only the operator writes that status; the test control plane runs no operator, so the
tests write it themselves (docs/engines.md says so).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ociam.components.database import BARMAN_PLUGIN, CLUSTER_NAME

if TYPE_CHECKING:
    from ociam.kube import KubeClient

API_VERSION = "postgresql.cnpg.io/v1"
PLURAL = "backups"
COMPLETED = "completed"
#: phases after which CloudNativePG never changes the Backup again
FAILED_PHASES = frozenset({"failed", "walArchivingFailing"})


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class BackupRecord:
    name: str
    cluster: str
    phase: str
    stopped_at: datetime | None
    error: str = ""

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> BackupRecord:
        status = obj.get("status") or {}
        return cls(
            name=obj["metadata"]["name"],
            cluster=((obj.get("spec") or {}).get("cluster") or {}).get("name", ""),
            phase=str(status.get("phase") or "new"),
            stopped_at=parse_time(status.get("stoppedAt")),
            error=str(status.get("error") or ""),
        )

    @property
    def completed(self) -> bool:
        return self.phase == COMPLETED and self.stopped_at is not None


def last_completed(records: list[BackupRecord], cluster: str = CLUSTER_NAME) -> BackupRecord | None:
    done = [r for r in records if r.cluster == cluster and r.completed]
    return max(done, key=lambda r: r.stopped_at or datetime.min.replace(tzinfo=UTC), default=None)


def read_backups(client: KubeClient, namespace: str) -> list[BackupRecord]:
    return [BackupRecord.from_object(o) for o in client.list(API_VERSION, PLURAL, namespace)]


def age_text(age: timedelta) -> str:
    hours, rest = divmod(int(age.total_seconds()), 3600)
    return f"{hours} h {rest // 60} min" if hours else f"{rest // 60} min"


@dataclass(frozen=True)
class GateVerdict:
    fresh: bool
    #: one sentence naming the city, the backup, its age and the limit
    message: str
    backup: BackupRecord | None = None


def judge(
    label: str,
    namespace: str,
    records: list[BackupRecord],
    *,
    max_age: timedelta,
    now: datetime,
) -> GateVerdict:
    """Whether the city's last completed backup is younger than ``max_age``."""
    limit = f"limit {age_text(max_age)} (upgrades.backup_max_age_hours)"
    last = last_completed(records)
    if last is None or last.stopped_at is None:
        seen = f" ({len(records)} Backup object(s), none completed)" if records else ""
        return GateVerdict(
            False, f"{label}: no completed backup of {CLUSTER_NAME} in {namespace}{seen}; {limit}"
        )
    age = now - last.stopped_at
    text = (
        f"{label}: last completed backup {last.name} finished {age_text(age)} ago "
        f"({last.stopped_at:%Y-%m-%d %H:%M} UTC); {limit}"
    )
    return GateVerdict(age <= max_age, text, last)


def on_demand_backup(namespace: str, now: datetime, labels: dict[str, str]) -> dict[str, Any]:
    """An on-demand Backup through the Barman Cloud plugin, named after the time."""
    return {
        "apiVersion": API_VERSION,
        "kind": "Backup",
        "metadata": {
            "name": f"{CLUSTER_NAME}-ondemand-{now:%Y%m%d%H%M%S}",
            "namespace": namespace,
            "labels": labels,
        },
        "spec": {
            "cluster": {"name": CLUSTER_NAME},
            "method": "plugin",
            "pluginConfiguration": {"name": BARMAN_PLUGIN},
        },
    }


class BackupFailed(Exception):
    """The Backup failed, or did not complete in time."""


def wait_for_backup(
    client: KubeClient,
    namespace: str,
    name: str,
    *,
    timeout: float,
    poll: float = 2.0,
    on_phase: Callable[[str], None] | None = None,
) -> BackupRecord:
    """Poll the Backup until it completed (returned) or failed (BackupFailed)."""
    deadline = time.monotonic() + timeout
    seen = ""
    while True:
        obj = client.get(API_VERSION, PLURAL, name, namespace)
        if obj is None:
            raise BackupFailed(f"Backup {namespace}/{name} disappeared")
        record = BackupRecord.from_object(obj)
        if record.phase != seen and on_phase is not None:
            on_phase(record.phase)
        seen = record.phase
        if record.completed:
            return record
        if record.phase in FAILED_PHASES:
            detail = f": {record.error}" if record.error else ""
            raise BackupFailed(f"Backup {namespace}/{name} {record.phase}{detail}")
        if time.monotonic() > deadline:
            raise BackupFailed(
                f"Backup {namespace}/{name} still {record.phase} after {timeout:.0f} s "
                "(is the CloudNativePG operator and its Barman Cloud plugin running?)"
            )
        time.sleep(poll)
