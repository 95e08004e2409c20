"""Run ``up`` wave by wave: each wave's cities with ``--jobs`` parallelism, every city
health-gated; the first wave with a failure is the last one run. Afterwards every city
of the rollout is read back from the cluster: which Keycloak version it runs (its Ready
pods' version, not the StatefulSet template's, which is only the desired one)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ociam.components.keycloak import NAME
from ociam.engines.base import PreviewResult, StackRef
from ociam.stackrun import Outcome, Runner
from ociam.upgrades.health import VERSION_LABEL
from ociam.upgrades.waves import Wave


@dataclass(frozen=True)
class CityVersion:
    wave: str
    stack: StackRef
    status: str
    version: str


def run_waves(
    waves: Sequence[Wave],
    env: str,
    *,
    action: Callable[[StackRef], tuple[PreviewResult, Any]],
    jobs: int,
    on_done: Callable[[Outcome], None],
    on_wave: Callable[[str], None],
    platform: bool = False,
) -> list[Outcome]:
    outcomes: list[Outcome] = []
    if platform:
        outcomes += Runner(action, "up", 1, on_done).run([StackRef.platform(env)])
    stopped = next((o for o in outcomes if o.status != "ok"), None)
    for wave in waves:
        stacks = [StackRef(env, city) for city in wave.cities]
        if stopped is not None:
            why = (
                f"wave {wave.name} not started: {stopped.stack.label} failed"
                if stopped.stack.is_platform
                else f"wave {wave.name} not started: an earlier wave failed ({stopped.stack.label})"
            )
            for stack in stacks:
                skipped = Outcome(stack, "skipped", error=why)
                outcomes.append(skipped)
                on_done(skipped)
            continue
        on_wave(f"wave {wave.name}: {', '.join(s.label for s in stacks)}")
        done = Runner(action, "up", jobs, on_done).run(stacks)
        outcomes += done
        stopped = next((o for o in done if o.status != "ok"), None)
    return outcomes


def city_versions(
    waves: Sequence[Wave], env: str, outcomes: Sequence[Outcome], read_version: Callable[[str], str]
) -> list[CityVersion]:
    status = {o.stack: o.status for o in outcomes}
    return [
        CityVersion(
            wave.name,
            StackRef(env, city),
            status.get(StackRef(env, city), "skipped"),
            read_version(city),
        )
        for wave in waves
        for city in wave.cities
    ]


def running_version(client: Any, namespace: str) -> str:
    """The Keycloak version(s) the Ready pods of ``namespace`` run, and the desired one
    (the StatefulSet template's) where it differs: ``26.7.3``, ``26.7.3, 26.7.4 (desired
    26.7.4)``, ``none running (desired 26.7.4)``, ``not deployed``."""
    sts = client.get("apps/v1", "statefulsets", NAME, namespace)
    if sts is None:
        return "not deployed"
    labels = (sts["spec"]["template"].get("metadata") or {}).get("labels") or {}
    desired = str(labels.get(VERSION_LABEL, "unknown"))
    selector = ",".join(f"{k}={v}" for k, v in sts["spec"]["selector"]["matchLabels"].items())
    running = sorted(
        {
            str((pod["metadata"].get("labels") or {}).get(VERSION_LABEL, "unknown"))
            for pod in client.list("v1", "pods", namespace, selector)
            if _ready(pod)
        }
    )
    if not running:
        return f"none running (desired {desired})"
    text = ", ".join(running)
    return text if running == [desired] else f"{text} (desired {desired})"


def _ready(pod: dict[str, Any]) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def version_lines(rows: Sequence[CityVersion]) -> list[str]:
    return [
        f"{row.wave:<10} {row.stack.label:<24} {row.status:<8} Keycloak {row.version}"
        for row in rows
    ]
