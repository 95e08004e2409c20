"""The city namespace: Pod Security ``restricted``, quota and limits from the size profile."""

from __future__ import annotations

import pulumi
import pulumi_kubernetes as k8s

from ociam.components.base import CityContext, child_name, kube
from ociam.profiles import Resources, SizeProfile

#: Keycloak's service account; no token is mounted (Keycloak needs no API access)
KEYCLOAK_SERVICE_ACCOUNT = "keycloak"
#: a pod of the realm config Job (issue 4) and one spare for rollouts, on top of the profile
JOB_ALLOWANCE = Resources(
    cpu_request_m=500, cpu_limit_m=1000, memory_request_mb=512, memory_limit_mb=1024
)


def pod_resources(*containers: Resources) -> Resources:
    """What a pod counts for in quota when its init containers run one at a time before
    its one app container: the larger of each (Kubernetes' effective pod resources)."""
    return Resources(
        cpu_request_m=max(c.cpu_request_m for c in containers),
        cpu_limit_m=max(c.cpu_limit_m for c in containers),
        memory_request_mb=max(c.memory_request_mb for c in containers),
        memory_limit_mb=max(c.memory_limit_mb for c in containers),
    )


def keycloak_pod(size: SizeProfile) -> Resources:
    """A Keycloak pod: its seed and build init containers, then Keycloak."""
    return pod_resources(size.keycloak_seed, size.keycloak_build, size.keycloak)


def quota_hard(size: SizeProfile) -> dict[str, str]:
    """ResourceQuota from the profile: every pod at its limit, plus one spare of each
    kind (a rollout or a CloudNativePG join job) and the config Job."""
    kc, pg = keycloak_pod(size), size.postgres
    kc_pods, pg_pods = size.keycloak_replicas + 1, size.postgres_instances + 1

    def total(attr: str) -> int:
        value: int = (
            getattr(kc, attr) * kc_pods + getattr(pg, attr) * pg_pods + getattr(JOB_ALLOWANCE, attr)
        )
        return value

    return {
        "pods": str(kc_pods + pg_pods + 2),
        "requests.cpu": f"{total('cpu_request_m')}m",
        "limits.cpu": f"{total('cpu_limit_m')}m",
        "requests.memory": f"{total('memory_request_mb')}M",
        "limits.memory": f"{total('memory_limit_mb')}M",
        "persistentvolumeclaims": str(pg_pods),
        "services.loadbalancers": "0",
        "services.nodeports": "0",
    }


def limit_range(size: SizeProfile) -> list[dict[str, object]]:
    """Defaults for containers that set nothing, and a ceiling no container may pass: the
    largest container the stack runs (init containers and the config Job's included)."""
    largest = pod_resources(keycloak_pod(size), size.postgres, JOB_ALLOWANCE)
    return [
        {
            "type": "Container",
            "default": {"cpu": "500m", "memory": "512M"},
            "defaultRequest": {"cpu": "100m", "memory": "128M"},
            "max": {"cpu": f"{largest.cpu_limit_m}m", "memory": f"{largest.memory_limit_mb}M"},
        }
    ]


class CityNamespace(pulumi.ComponentResource):
    """Namespace ``iam-<city>`` with Pod Security ``restricted`` enforced, a ResourceQuota
    and LimitRange sized from the profile, and Keycloak's ServiceAccount."""

    namespace: str
    service_account: str

    def __init__(
        self, name: str, city: CityContext, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("ociam:namespace:CityNamespace", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        version = city.config.settings.kubernetes_version
        pss_version = "v" + ".".join(version.split(".")[:2])
        pss = {
            f"pod-security.kubernetes.io/{mode}{suffix}": value
            for mode in ("enforce", "audit", "warn")
            for suffix, value in (("", "restricted"), ("-version", pss_version))
        }
        ns = kube(
            k8s.core.v1.Namespace,
            child_name(name, "namespace"),
            metadata=city.metadata(
                city.namespace, "ociam", "namespace", namespaced=False, labels=pss
            ),
            opts=child,
        )
        after_ns = pulumi.ResourceOptions(parent=self, depends_on=[ns])
        size = city.profile
        kube(
            k8s.core.v1.ResourceQuota,
            child_name(name, "quota"),
            metadata=city.metadata("city-quota", "ociam", "quota"),
            spec={"hard": quota_hard(size)},
            opts=after_ns,
        )
        kube(
            k8s.core.v1.LimitRange,
            child_name(name, "limits"),
            metadata=city.metadata("city-limits", "ociam", "quota"),
            spec={"limits": limit_range(size)},
            opts=after_ns,
        )
        kube(
            k8s.core.v1.ServiceAccount,
            child_name(name, "keycloak-sa"),
            metadata=city.metadata(KEYCLOAK_SERVICE_ACCOUNT, "keycloak", "server"),
            automount_service_account_token=False,
            opts=after_ns,
        )
        self.namespace = city.namespace
        self.service_account = KEYCLOAK_SERVICE_ACCOUNT
        self.register_outputs(
            {"namespace": self.namespace, "service_account": self.service_account}
        )
