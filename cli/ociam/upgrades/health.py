"""The health gate of a staged rollout, per city, read through the Kubernetes API.

Healthy when: the Keycloak StatefulSet has observed its latest spec and every replica
is updated to it and Ready; every realm configuration Job of the city has succeeded
(none failed); and the ``keycloak`` Service has a ready endpoint (EndpointSlice), which
is the readiness probe (``/health/ready`` on the management port) as the kubelet
reports it. What it cannot see: anything a kubelet does not report (a login that
works end to end); on the test control plane kwok marks pods Ready and Jobs
Succeeded without running them, so there the gate checks the controllers' state.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ociam.components.base import CITY_LABEL
from ociam.components.keycloak import HTTP_SERVICE, NAME

if TYPE_CHECKING:
    from ociam.kube import KubeClient


@dataclass
class Health:
    problems: list[str] = field(default_factory=list)
    #: the Keycloak version the StatefulSet's pods carry (``app.kubernetes.io/version``)
    version: str = ""

    @property
    def healthy(self) -> bool:
        return not self.problems


def _job_state(job: dict[str, Any]) -> str:
    status = job.get("status") or {}
    for condition in status.get("conditions") or []:
        if condition.get("status") == "True" and condition.get("type") in {"Complete", "Failed"}:
            return str(condition["type"])
    return "Running"


def statefulset_problems(sts: dict[str, Any] | None) -> list[str]:
    if sts is None:
        return [f"StatefulSet {NAME} not found"]
    spec, status = sts.get("spec") or {}, sts.get("status") or {}
    wanted = int(spec.get("replicas", 1))
    problems = []
    if int(status.get("observedGeneration", 0)) < int(sts["metadata"].get("generation", 0)):
        problems.append(f"StatefulSet {NAME}: the controller has not seen the latest spec yet")
    updated = int(status.get("updatedReplicas", 0))
    ready = int(status.get("readyReplicas", 0))
    if updated < wanted:
        problems.append(f"StatefulSet {NAME}: {updated} of {wanted} pod(s) on the new revision")
    if ready < wanted:
        problems.append(f"StatefulSet {NAME}: {ready} of {wanted} pod(s) Ready")
    return problems


def job_problems(jobs: list[dict[str, Any]]) -> list[str]:
    problems = []
    for job in sorted(jobs, key=lambda j: str(j["metadata"]["name"])):
        state = _job_state(job)
        if state != "Complete":
            problems.append(f"Job {job['metadata']['name']}: {state.lower()}")
    return problems


def endpoint_problems(slices: list[dict[str, Any]]) -> list[str]:
    ready = [
        e
        for s in slices
        for e in s.get("endpoints") or []
        if (e.get("conditions") or {}).get("ready") is True
    ]
    return [] if ready else [f"Service {HTTP_SERVICE}: no ready endpoint (readiness probe)"]


#: the Keycloak version label of the StatefulSet's template and so of its pods
VERSION_LABEL = "app.kubernetes.io/version"


def check(client: KubeClient, namespace: str, city: str) -> Health:
    sts = client.get("apps/v1", "statefulsets", NAME, namespace)
    jobs = client.list("batch/v1", "jobs", namespace, f"{CITY_LABEL}={city}")
    slices = client.list(
        "discovery.k8s.io/v1",
        "endpointslices",
        namespace,
        f"kubernetes.io/service-name={HTTP_SERVICE}",
    )
    problems = statefulset_problems(sts) + job_problems(jobs) + endpoint_problems(slices)
    version = ""
    if sts is not None:
        labels = ((sts["spec"].get("template") or {}).get("metadata") or {}).get("labels") or {}
        version = str(labels.get(VERSION_LABEL, ""))
    return Health(problems, version)


def wait_healthy(
    client: KubeClient, namespace: str, city: str, timeout: float, poll: float = 2.0
) -> Health:
    """Poll until healthy; the last answer when ``timeout`` passes first. A failed Job
    ends the wait at once (it never recovers)."""
    deadline = time.monotonic() + timeout
    while True:
        health = check(client, namespace, city)
        failed = any(p.endswith(": failed") for p in health.problems)
        if health.healthy or failed or time.monotonic() > deadline:
            return health
        time.sleep(poll)
