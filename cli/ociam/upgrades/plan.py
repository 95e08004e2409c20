"""The upgrade plan of one city stack: what changes version, how Keycloak rolls out
(Keycloak's own update-compatibility decision), and whether the backup gate applies."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from ociam.components.keycloak import ROLLOUT_ENV, server_options
from ociam.components.program import load_city
from ociam.engines.base import StackRef
from ociam.profiles import profile
from ociam.upgrades.compat import CompatResult, check_versions
from ociam.upgrades.versions import (
    GATED,
    KEYCLOAK,
    VersionChange,
    Versions,
    diff_versions,
    from_state,
    working_tree,
)

Rollout = Literal["none", "rolling", "recreate"]


@dataclass(frozen=True)
class UpgradePlan:
    stack: StackRef
    changes: tuple[VersionChange, ...]
    #: the stack's state holds a database Cluster that this change deletes (external)
    database_dropped: bool = False
    compat: CompatResult | None = None
    keycloak_replicas: int = 1

    @property
    def keycloak_change(self) -> VersionChange | None:
        return next((c for c in self.changes if c.component == KEYCLOAK), None)

    @property
    def rollout(self) -> Rollout:
        if self.keycloak_change is None:
            return "none"
        return self.compat.decision if self.compat is not None else "recreate"

    @property
    def gate_reasons(self) -> list[str]:
        """Why this change needs a fresh backup (empty: it does not)."""
        reasons = [f"upgrades {c.line()}" for c in self.changes if c.component in GATED]
        if self.database_dropped:
            reasons.append("deletes the database Cluster (switch to an external database)")
        return reasons

    def program_env(self) -> dict[str, str]:
        return {ROLLOUT_ENV: "recreate"} if self.rollout == "recreate" else {}

    def lines(self) -> list[str]:
        lines = [f"version: {c.line()}" for c in self.changes]
        change = self.keycloak_change
        if change is None:
            return lines
        if self.compat is not None:
            lines.append(self.compat.line())
        if self.rollout == "rolling":
            lines.append(
                f"rollout: rolling update (Keycloak {change.new} pods replace {change.old} "
                "one at a time; no outage)"
            )
        else:
            lines.append(
                f"rollout: RECREATE, OUTAGE: all {self.keycloak_replicas} Keycloak pod(s) "
                f"stop before {change.new} starts; logins fail until the first new pod is "
                "ready (StatefulSet updateStrategy OnDelete, old pods deleted at once by ociam up)"
            )
        return lines


def make_plan(
    stack: StackRef,
    deployed: Versions | None,
    target: Versions,
    *,
    uses_external_database: bool = False,
    keycloak_replicas: int = 1,
    environ: Mapping[str, str] | None = None,
    run_check: bool = True,
) -> UpgradePlan:
    changes = tuple(diff_versions(deployed, target))
    compat = None
    keycloak = next((c for c in changes if c.component == KEYCLOAK), None)
    if keycloak is not None and run_check and deployed is not None:
        old_options: Sequence[str] = deployed.keycloak_options or target.keycloak_options
        compat = check_versions(
            keycloak.old, old_options, keycloak.new, target.keycloak_options, environ
        )
    return UpgradePlan(
        stack,
        changes,
        database_dropped=bool(deployed and deployed.has_database and uses_external_database),
        compat=compat,
        keycloak_replicas=keycloak_replicas,
    )


def plan_from_state(
    root: Any, stack: StackRef, resources: Sequence[Mapping[str, Any]], run_check: bool = True
) -> UpgradePlan:
    """The plan of ``stack`` against what its state says is deployed."""
    config = load_city(root, stack)
    target = working_tree(root, stack.env, stack.city, server_options())
    return make_plan(
        stack,
        from_state(resources),
        target,
        uses_external_database=config.spec.database.external is not None,
        keycloak_replicas=profile(config.size_profile).keycloak_replicas,
        run_check=run_check,
    )
