"""What every city component shares: the city context, labels and object metadata.

Every Kubernetes object carries the ``app.kubernetes.io/*`` recommended labels
plus ``ociam.fi/city`` and ``ociam.fi/env``. Selectors use only the labels that
never change for the life of a workload (name, instance, component).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import pulumi
import pulumi_kubernetes as k8s

from ociam.catalog import CityConfig
from ociam.profiles import SizeProfile, profile

T = TypeVar("T")

PART_OF = "ociam"
MANAGED_BY = "pulumi"
CITY_LABEL = "ociam.fi/city"
ENV_LABEL = "ociam.fi/env"
#: pods labelled with this may call Keycloak's HTTP port (e.g. the realm config Job)
KEYCLOAK_CLIENT_LABEL = "ociam.fi/keycloak-client"

#: ranges that are never "the internet": private, shared, link-local (cloud metadata),
#: loopback, multicast and reserved
NON_PUBLIC_CIDRS = (
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "224.0.0.0/4",
    "240.0.0.0/4",
)


@dataclass(frozen=True)
class CityContext:
    """One city's resolved catalog entry plus its size profile."""

    config: CityConfig

    @property
    def profile(self) -> SizeProfile:
        return profile(self.config.size_profile)

    @property
    def namespace(self) -> str:
        return self.config.namespace

    @property
    def instance(self) -> str:
        return self.config.stack_name

    def selector(self, app: str, component: str) -> dict[str, str]:
        """Labels a selector matches on: stable for the workload's life."""
        return {
            "app.kubernetes.io/name": app,
            "app.kubernetes.io/instance": self.instance,
            "app.kubernetes.io/component": component,
        }

    def labels(self, app: str, component: str, version: str | None = None) -> dict[str, str]:
        labels = {
            **self.selector(app, component),
            "app.kubernetes.io/part-of": PART_OF,
            "app.kubernetes.io/managed-by": MANAGED_BY,
            CITY_LABEL: self.config.slug,
            ENV_LABEL: self.config.env,
        }
        if version is not None:
            labels["app.kubernetes.io/version"] = version
        return dict(sorted(labels.items()))

    def metadata(
        self,
        name: str,
        app: str,
        component: str,
        *,
        version: str | None = None,
        namespaced: bool = True,
        labels: dict[str, str] | None = None,
        annotations: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        meta: dict[str, Any] = {
            "name": name,
            "labels": {**self.labels(app, component, version), **(labels or {})},
        }
        if namespaced:
            meta["namespace"] = self.namespace
        if annotations:
            meta["annotations"] = dict(annotations)
        return meta

    def public_https_except(self) -> list[str]:
        """What "any public address" excludes: non-public ranges and the cluster's own."""
        cluster = self.config.settings.cluster
        ranges = [ipaddress.IPv4Network(c) for c in NON_PUBLIC_CIDRS]
        ranges += [*cluster.pod_cidrs, *cluster.service_cidrs]
        collapsed = ipaddress.collapse_addresses(ranges)
        return [str(net) for net in collapsed]


def pod_security_context() -> dict[str, Any]:
    """Pod Security Standard ``restricted``, at pod level."""
    return {
        "runAsNonRoot": True,
        "runAsUser": 1000,
        "runAsGroup": 1000,
        "fsGroup": 1000,
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def container_security_context() -> dict[str, Any]:
    """Pod Security Standard ``restricted``, per container, with a read-only root."""
    return {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def child_name(parent: str, suffix: str) -> str:
    """Pulumi name of a component's child: the component name plus a role suffix."""
    return f"{parent}-{suffix}"


def kube(cls: Callable[..., T], name: str, opts: pulumi.ResourceOptions, **inputs: Any) -> T:
    """Create a pulumi-kubernetes resource from plain dict inputs.

    The SDK's overloads want its TypedDicts; the components build plain dicts
    (checked against the Kubernetes schemas by ``validate --rendered``)."""
    return cls(name, opts=opts, **inputs)


def custom_resource(
    name: str,
    api_version: str,
    kind: str,
    *,
    metadata: dict[str, Any],
    spec: dict[str, Any],
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """A custom resource (validated against its CRD's schema by ``validate --rendered``)."""
    return k8s.apiextensions.CustomResource(
        name, api_version=api_version, kind=kind, metadata=metadata, spec=spec, opts=opts
    )
