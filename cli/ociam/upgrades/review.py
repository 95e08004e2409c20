"""Version changes for ``ociam preview`` and its summary.

With the Pulumi engine the deployed versions come from each stack's state (what the
last ``up`` applied); otherwise, with ``--changed-since REF``, from the catalog at the
merge base of REF. The platform stacks' chart (operator) versions are in no state a
plan can read: with ``--changed-since`` they come from git for either engine. The
offline engine without ``--changed-since`` has nothing to compare with, and says so.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ociam.catalog import CatalogError
from ociam.changes import GitError, git_output
from ociam.components.keycloak import server_options
from ociam.components.program import load_city
from ociam.engines.base import EngineError, StackRef
from ociam.profiles import profile
from ociam.stackrun import Outcome
from ociam.upgrades.plan import UpgradePlan, make_plan, plan_from_state
from ociam.upgrades.versions import VersionChange, at_revision, platform_changes, working_tree


@dataclass
class VersionReview:
    root: Path
    plans: dict[StackRef, UpgradePlan] = field(default_factory=dict)
    #: the platform stacks' chart (operator) version changes
    charts: dict[StackRef, list[VersionChange]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def from_state(self, engine: Any, stack: StackRef) -> None:
        """Plan ``stack`` against its state; sets the program's rollout for the preview."""
        if stack.is_platform:
            return
        try:
            plan = plan_from_state(self.root, stack, engine.exported_resources(stack))
        except CatalogError as exc:
            raise EngineError(f"{stack.label}: {exc}") from exc
        engine.program_env[stack] = plan.program_env()
        with self._lock:
            self.plans[stack] = plan

    def _merge_base(self, ref: str) -> str | None:
        try:
            return git_output(self.root, "merge-base", ref, "HEAD").strip()
        except GitError as exc:
            self.notes.append(f"Version changes not shown: {exc}")
            return None

    def charts_from_revision(self, ref: str, stacks: Iterable[StackRef]) -> None:
        """The platform stacks' chart (operator) changes since the merge base of ``ref``.

        The Pulumi engine's stack states hold no chart versions a plan could read, so with
        ``--changed-since`` they come from git for that engine too."""
        platforms = [stack for stack in stacks if stack.is_platform]
        if platforms and (base := self._merge_base(ref)) is not None:
            for stack in platforms:
                self.charts[stack] = platform_changes(self.root, base)

    def from_revision(self, ref: str, stacks: Iterable[StackRef]) -> None:
        base = self._merge_base(ref)
        if base is None:
            return
        options = server_options()
        for stack in stacks:
            if stack.is_platform:
                self.charts[stack] = platform_changes(self.root, base)
                continue
            try:
                config = load_city(self.root, stack)
            except CatalogError:
                continue  # the stack's own run reports it
            self.plans[stack] = make_plan(
                stack,
                at_revision(self.root, base, stack.env, stack.city, options),
                working_tree(self.root, stack.env, stack.city, options),
                uses_external_database=config.spec.database.external is not None,
                keycloak_replicas=profile(config.size_profile).keycloak_replicas,
            )

    def lines(self, outcome: Outcome) -> list[str]:
        plan = self.plans.get(outcome.stack)
        charts = [f"version: {c.line()}" for c in self.charts.get(outcome.stack, [])]
        return charts + (plan.lines() if plan else [])
