"""Size profiles (dev, small, ha): replicas and resources from Keycloak's sizing guide.

Keycloak's "Concepts for sizing CPU and memory resources" (high-availability
guide, Keycloak 26) gives the rules used here:

* memory request: 1250 MB for a pod with realm caches and 10,000 cached
  sessions, plus about 500 MB per 100,000 further sessions;
* memory limit: (request - 300 MB non-heap) / 0.7, because Keycloak gives the
  heap 70 % of the container limit (``-XX:MaxRAMPercentage=70``);
* CPU request: 1 vCPU per 15 password logins per second per pod;
* CPU limit: three times the request (200 % headroom for peaks, start-up and
  cache rebalancing on fail-over).

PostgreSQL instances (CloudNativePG) follow the replicas: one instance in dev,
a primary and a standby in small, a primary and two standbys in ha.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

ProfileName = Literal["dev", "small", "ha"]

#: non-heap memory of a Keycloak JVM (sizing guide)
NON_HEAP_MB = 300
#: share of the container memory limit Keycloak gives the heap (sizing guide)
HEAP_SHARE = 0.7
#: CPU limit as a multiple of the request (sizing guide: 200 % headroom)
CPU_HEADROOM = 3
#: heap options: the guide's 70 % share, exactly kc.sh's default in a container
#: (JAVA_OPTS_KC_HEAP in bin/kc.sh of 26.x). No heap free ratios: the JVM's default
#: MinHeapFreeRatio is 40, and a MaxHeapFreeRatio below it stops the JVM at start.
JAVA_OPTS_KC_HEAP = "-XX:MaxRAMPercentage=70 -XX:MinRAMPercentage=70 -XX:InitialRAMPercentage=50"


def memory_limit_mb(request_mb: int) -> int:
    """The sizing guide's limit for a memory request, rounded up to 10 MB."""
    return int(math.ceil((request_mb - NON_HEAP_MB) / HEAP_SHARE / 10) * 10)


@dataclass(frozen=True)
class Resources:
    """Requests and limits of one container, in Kubernetes quantities."""

    cpu_request_m: int
    cpu_limit_m: int
    memory_request_mb: int
    memory_limit_mb: int

    def as_k8s(self) -> dict[str, dict[str, str]]:
        return {
            "requests": {"cpu": f"{self.cpu_request_m}m", "memory": f"{self.memory_request_mb}M"},
            "limits": {"cpu": f"{self.cpu_limit_m}m", "memory": f"{self.memory_limit_mb}M"},
        }


def keycloak_resources(logins_per_second: int, sessions: int) -> Resources:
    """Per-pod resources for a login rate and session count, by the sizing guide."""
    cpu_request = max(500, math.ceil(logins_per_second / 15 * 1000))
    memory_request = 1250 + math.ceil(max(0, sessions - 10_000) / 100_000 * 500)
    return Resources(
        cpu_request_m=cpu_request,
        cpu_limit_m=cpu_request * CPU_HEADROOM,
        memory_request_mb=memory_request,
        memory_limit_mb=memory_limit_mb(memory_request),
    )


@dataclass(frozen=True)
class SizeProfile:
    """Everything a profile decides for one city."""

    name: ProfileName
    keycloak_replicas: int
    keycloak: Resources
    #: the init container that runs `kc.sh build` (short, CPU-bound)
    keycloak_build: Resources
    #: the init container that copies the image's lib/quarkus into the emptyDir (seconds)
    keycloak_seed: Resources
    postgres_instances: int
    postgres: Resources
    #: the description reviewers read in previews
    description: str

    @property
    def pdb_min_available(self) -> int:
        """Pods that must stay up: all but one, so a node drain always proceeds."""
        return max(0, self.keycloak_replicas - 1)


_BUILD = Resources(cpu_request_m=500, cpu_limit_m=2000, memory_request_mb=512, memory_limit_mb=1024)
_SEED = Resources(cpu_request_m=50, cpu_limit_m=200, memory_request_mb=32, memory_limit_mb=64)

PROFILES: dict[ProfileName, SizeProfile] = {
    "dev": SizeProfile(
        name="dev",
        keycloak_replicas=1,
        keycloak=keycloak_resources(logins_per_second=7, sessions=10_000),
        keycloak_build=_BUILD,
        keycloak_seed=_SEED,
        postgres_instances=1,
        postgres=Resources(250, 1000, 512, 1024),
        description="1 Keycloak pod (~7 logins/s), 1 PostgreSQL instance",
    ),
    "small": SizeProfile(
        name="small",
        keycloak_replicas=2,
        keycloak=keycloak_resources(logins_per_second=15, sessions=10_000),
        keycloak_build=_BUILD,
        keycloak_seed=_SEED,
        postgres_instances=2,
        postgres=Resources(500, 2000, 1024, 2048),
        description="2 Keycloak pods (~15 logins/s each), PostgreSQL primary + standby",
    ),
    "ha": SizeProfile(
        name="ha",
        keycloak_replicas=3,
        keycloak=keycloak_resources(logins_per_second=30, sessions=60_000),
        keycloak_build=_BUILD,
        keycloak_seed=_SEED,
        postgres_instances=3,
        postgres=Resources(1000, 4000, 2048, 4096),
        description="3 Keycloak pods (~30 logins/s, 60k sessions each), PostgreSQL + 2 standbys",
    ),
}


def profile(name: str) -> SizeProfile:
    try:
        return PROFILES[name]  # type: ignore[index]
    except KeyError:
        raise ValueError(
            f"unknown size profile '{name}'; use one of {', '.join(PROFILES)}"
        ) from None
