"""``ociam up`` for a city stack, upgrade-aware: the backup gate before anything is
applied, the Keycloak rollout Keycloak allows, and (in a staged rollout) the health gate.

Order per city: read the stack's state (``pulumi stack export``) → the upgrade plan
(versions deployed vs the catalog, ``kc.sh update-compatibility`` where the
distributions are available) → when the change upgrades Keycloak or PostgreSQL or
drops the database, the last completed CloudNativePG Backup must be younger than
``upgrades.backup_max_age_hours`` (else REFUSED, nothing applied; a city already on an
external database has no Cluster to back up: the gate does not apply, said loudly) → ``pulumi up``
(StatefulSet ``OnDelete`` for a recreate) → for a recreate, every old Keycloak pod is
deleted at once → with ``health``: wait until the city is healthy (ociam.upgrades.health).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ociam.catalog import CatalogError
from ociam.components.keycloak import NAME
from ociam.components.program import load_city
from ociam.engines.base import EngineError, PreviewResult, RefusedError, StackRef
from ociam.kube import KubeClient, KubeError
from ociam.upgrades.backup import judge, read_backups
from ociam.upgrades.health import Health, wait_healthy
from ociam.upgrades.plan import UpgradePlan, plan_from_state


@dataclass
class CityRollout:
    """What ``up`` did to one city beyond Pulumi's steps."""

    plan: UpgradePlan
    health: Health | None = None
    gate: str = ""


@dataclass
class UpgradeAwareUp:
    root: Path
    engine: Any
    skip_backup_gate: bool = False
    health_gate: bool = False
    health_timeout: float | None = None
    warn: Callable[[str], None] = print
    now: Callable[[], datetime] = lambda: datetime.now(UTC)
    #: every city's rollout as far as it got, also of the cities whose ``up`` failed
    rollouts: dict[StackRef, CityRollout] = field(default_factory=dict, init=False)
    _client: KubeClient | None = field(default=None, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def client(self) -> KubeClient:
        with self._lock:
            if self._client is None:
                try:
                    self._client = KubeClient.from_kubeconfig()
                except KubeError as exc:
                    raise EngineError(str(exc)) from None
            return self._client

    def __call__(self, stack: StackRef) -> tuple[PreviewResult, Any]:
        if stack.is_platform:
            return self.engine.up(stack), None
        try:
            config = load_city(self.root, stack)
        except CatalogError as exc:
            raise EngineError(f"{stack.label}: {exc}") from exc
        plan = plan_from_state(self.root, stack, self.engine.exported_resources(stack))
        rollout = CityRollout(plan)
        with self._lock:
            self.rollouts[stack] = rollout
        try:
            rollout.gate = self._gate(stack, plan, config)
            self.engine.program_env[stack] = plan.program_env()
            result = self.engine.up(stack)
            if plan.rollout == "recreate":
                self._recreate(config.namespace)
            if self.health_gate or plan.rollout == "recreate":  # the outage: wait it out
                timeout = self.health_timeout or config.settings.upgrades.health_timeout_seconds
                rollout.health = wait_healthy(self.client(), config.namespace, config.slug, timeout)
                if not rollout.health.healthy:
                    raise EngineError(
                        f"{stack.label}: health gate: not healthy after {timeout:.0f} s: "
                        + "; ".join(rollout.health.problems)
                    )
        except KubeError as exc:
            raise EngineError(f"{stack.label}: {exc}") from None
        return result, rollout

    def _gate(self, stack: StackRef, plan: UpgradePlan, config: Any) -> str:
        reasons = plan.gate_reasons
        if not reasons:
            return ""
        what = " and ".join(reasons)
        external = config.spec.database.external
        if external is not None and not plan.database_dropped:
            # no CloudNativePG Cluster, no Backup objects: nothing ociam could check or take
            message = (
                f"BACKUP GATE NOT APPLICABLE to {stack.label}: it uses an external database "
                f"({external.host}:{external.port}/{external.database}), whose backups ociam "
                f"neither sees nor takes; this change {what}: a fresh backup of that database "
                "before it is applied is its operator's duty"
            )
            self.warn(message)
            return message
        if self.skip_backup_gate:
            message = (
                f"BACKUP GATE SKIPPED for {stack.label} (--skip-backup-gate): this change "
                f"{what} without checking for a fresh backup"
            )
            self.warn(message)
            return message
        limit = timedelta(hours=config.settings.upgrades.backup_max_age_hours)
        verdict = judge(
            stack.label, config.namespace, read_backups(self.client(), config.namespace),
            max_age=limit, now=self.now(),
        )  # fmt: skip
        if not verdict.fresh:
            raise RefusedError(
                f"refusing to apply: this change {what}, and the backup gate failed: "
                f"{verdict.message}. Take one with `ociam backup --env {stack.env} --city "
                f"{stack.city}` and run `ociam up` again (nothing was applied)"
            )
        return verdict.message

    def _recreate(self, namespace: str, timeout: float = 120) -> None:
        """Delete every Keycloak pod not on the StatefulSet's new revision, all at once:
        no two Keycloak versions run side by side (OnDelete does not replace them)."""
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            sts = client.get("apps/v1", "statefulsets", NAME, namespace) or {}
            status = sts.get("status") or {}
            generation = (sts.get("metadata") or {}).get("generation", 0)
            if status.get("observedGeneration", -1) >= generation and status.get("updateRevision"):
                break
            if time.monotonic() > deadline:
                raise EngineError(f"StatefulSet {namespace}/{NAME}: no new revision observed")
            time.sleep(1)
        selector = ",".join(f"{k}={v}" for k, v in sts["spec"]["selector"]["matchLabels"].items())
        for pod in client.list("v1", "pods", namespace, selector):
            labels = pod["metadata"].get("labels") or {}
            if labels.get("controller-revision-hash") != status["updateRevision"]:
                client.delete("v1", "pods", pod["metadata"]["name"], namespace)
