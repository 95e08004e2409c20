"""Run one engine operation on many stacks: phases, bounded parallelism, outcomes.

Platform stacks go first (the city stacks use what they install) and last when
destroying. Within a phase up to ``jobs`` stacks run at once; each finished
stack is reported at once (``on_done``), and a failure never stops the others,
except that a city stack is skipped when its environment's platform stack failed
to deploy.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from ociam.engines.base import (
    EngineError,
    PreviewResult,
    ProtectedResourcesError,
    RefusedError,
    ResourceStep,
    StackRef,
)

Operation = Literal["preview", "up", "destroy", "refresh"]
Status = Literal["ok", "failed", "refused", "skipped"]

#: resources whose replacement or deletion loses data: reviewers must see them
DATABASE_TYPES = frozenset(
    {
        "kubernetes:postgresql.cnpg.io/v1:Cluster",
        "kubernetes:core/v1:PersistentVolumeClaim",
    }
)
#: what each op is called in result lines and summaries
CHANGE_OPS = ("create", "update", "replace", "delete")


@dataclass
class Outcome:
    """What happened to one stack."""

    stack: StackRef
    status: Status
    result: PreviewResult | None = None
    error: str = ""
    seconds: float = 0.0
    #: extra data of the command (the offline render of a stack)
    extra: Any = None

    @property
    def counts(self) -> dict[str, int]:
        return self.result.counts if self.result else {}

    def changed(self, op: str) -> list[ResourceStep]:
        return [s for s in (self.result.steps if self.result else ()) if s.op == op]

    @property
    def data_loss(self) -> list[ResourceStep]:
        """Database resources replaced or deleted."""
        return [
            s
            for s in (self.result.steps if self.result else ())
            if s.op in {"replace", "delete"} and s.type in DATABASE_TYPES
        ]


def change_text(outcome: Outcome) -> str:
    """``+2 ~1 ±1 -0 (=40)``-style counts in words, for result lines."""
    counts = outcome.counts
    parts = [f"{counts.get(op, 0)} to {op}" for op in CHANGE_OPS]
    parts.append(f"{counts.get('same', 0)} unchanged")
    text = ", ".join(parts)
    replaced = outcome.changed("replace")
    if replaced:
        text += "; replaces " + ", ".join(s.name for s in replaced)
    if outcome.data_loss:
        text += " [DATABASE " + ", ".join(f"{s.op.upper()} {s.name}" for s in outcome.data_loss)
        text += "]"
    return text


def result_line(outcome: Outcome) -> str:
    """The one line per stack every command prints."""
    label = {"ok": "ok", "failed": "FAILED", "refused": "REFUSED", "skipped": "SKIPPED"}
    head = f"{label[outcome.status]:<8} {outcome.stack.label:<24}"
    if outcome.status == "ok":
        body = change_text(outcome)
    else:
        body = outcome.error.splitlines()[0] if outcome.error else outcome.status
        body = body.removeprefix(f"{outcome.stack.label}: ")
    return f"{head} {body} ({outcome.seconds:.1f}s)"


def phases(stacks: Sequence[StackRef], operation: Operation) -> list[list[StackRef]]:
    platforms = sorted(s for s in stacks if s.is_platform)
    cities = sorted(s for s in stacks if not s.is_platform)
    ordered = [cities, platforms] if operation == "destroy" else [platforms, cities]
    return [phase for phase in ordered if phase]


@dataclass
class Runner:
    """Runs ``action`` on every stack with at most ``jobs`` at once."""

    action: Callable[[StackRef], tuple[PreviewResult, Any]]
    operation: Operation
    jobs: int = 1
    on_done: Callable[[Outcome], None] | None = None
    #: (stack, start, end) monotonic times of every run, for tests and timing reports
    timings: list[tuple[StackRef, float, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def _one(self, stack: StackRef) -> Outcome:
        start = time.monotonic()
        try:
            result, extra = self.action(stack)
            outcome = Outcome(stack, "ok", result, extra=extra)
        except (ProtectedResourcesError, RefusedError) as exc:
            outcome = Outcome(stack, "refused", error=str(exc))
        except EngineError as exc:
            outcome = Outcome(stack, "failed", error=str(exc))
        end = time.monotonic()
        outcome.seconds = end - start
        with self._lock:
            self.timings.append((stack, start, end))
            if self.on_done is not None:
                self.on_done(outcome)
        return outcome

    def run(self, stacks: Sequence[StackRef]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        failed_platforms: set[str] = set()
        for phase in phases(stacks, self.operation):
            runnable: list[StackRef] = []
            for stack in phase:
                if (
                    self.operation == "up"
                    and not stack.is_platform
                    and stack.env in failed_platforms
                ):
                    skipped = Outcome(
                        stack, "skipped", error=f"platform/{stack.env} failed to deploy"
                    )
                    outcomes.append(skipped)
                    if self.on_done is not None:
                        self.on_done(skipped)
                else:
                    runnable.append(stack)
            if self.jobs <= 1 or len(runnable) <= 1:
                done = [self._one(stack) for stack in runnable]
            else:
                with ThreadPoolExecutor(max_workers=self.jobs) as pool:
                    done = list(pool.map(self._one, runnable))
            outcomes.extend(done)
            failed_platforms |= {
                o.stack.env for o in done if o.stack.is_platform and o.status != "ok"
            }
        return sorted(outcomes, key=lambda o: o.stack)
