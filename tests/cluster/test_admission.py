"""Admission: every rendered object is accepted by the real API server, with no warning.

For every city of every environment and every platform render (rendered in-process the
way ``ociam render --all --platform`` renders them):

* its namespaces are created for real, with their rendered labels (Pod Security
  ``enforce``/``warn``/``audit`` among them);
* every object goes through server-side apply with ``dryRun=All``: schema of built-in
  kinds and of the CRDs (structural schemas, CEL rules), defaulting, admission plugins
  (Pod Security warns about pod templates), and must come back with zero ``Warning``
  headers (unknown fields, deprecated APIs and Pod Security all warn);
* a Pod built from each pod template (as the workload's controller would build it) is
  created with ``dryRun=All`` in its namespace, under the namespace's Pod Security
  labels and its rendered ServiceAccounts, LimitRange and ResourceQuota (created for
  real first, the quota's status computed by the controller).

Not covered here: the pods the CloudNativePG operator builds from a ``Cluster`` (no
operator runs), the platform's Helm releases (no chart repository is reachable: the
objects inside the charts are not rendered, see the render's NOT-RENDERED.md), and the
behaviour of controllers other than Kubernetes' own (cert-manager, Envoy Gateway,
Prometheus Operator), whose webhooks are not installed either.

Negative tests show that this tier can fail: a privileged Pod is refused in a
``restricted`` namespace (and admitted without the label), a pod template that breaks
the namespace's policy draws a warning, an unknown field draws a warning (and an error
when strict), a CRD's CEL rule refuses a bad object.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Any

import pytest

from ociam.catalog import ENVIRONMENTS, load_environment
from ociam.engines.offline import OfflineEngine
from ociam.render.manifests import object_id
from ociam.render.platform import render_platform
from ociam.render.service import render_city
from tests.realsys.control_plane import ApiError, ControlPlane, KubeClient, gone, wait_for

pytestmark = pytest.mark.cluster

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FIELD_MANAGER = "ociam-admission-tests"
ENFORCE = "pod-security.kubernetes.io/enforce"
#: where each workload kind keeps its pod template
POD_TEMPLATES: dict[str, tuple[str, ...]] = {
    "Deployment": ("spec", "template"),
    "ReplicaSet": ("spec", "template"),
    "StatefulSet": ("spec", "template"),
    "DaemonSet": ("spec", "template"),
    "Job": ("spec", "template"),
    "CronJob": ("spec", "jobTemplate", "spec", "template"),
}
# Not pods of ours: postgresql.cnpg.io Cluster (and Pooler) pods are built by the
# CloudNativePG operator from its own templates; no operator runs here.
#: what a Pod's admission depends on beyond its namespace: created for real first
POLICY_KINDS = ("ServiceAccount", "LimitRange", "ResourceQuota")
WAIT = 120.0


@dataclass(frozen=True)
class Render:
    """One rendered stack: ``dev/demo`` or ``platform/dev``, and its objects."""

    label: str
    objects: tuple[dict[str, Any], ...]

    def of_kinds(self, *kinds: str) -> list[dict[str, Any]]:
        return [o for o in self.objects if o["kind"] in kinds]

    def used_namespaces(self) -> set[str]:
        return {
            str(o["metadata"]["namespace"]) for o in self.objects if "namespace" in o["metadata"]
        }


@cache
def renders() -> tuple[Render, ...]:
    """Every city render and every platform render (at collection: they name the tests)."""
    engine = OfflineEngine(PROJECT_ROOT)
    found = []
    for env in ENVIRONMENTS:
        for city in load_environment(PROJECT_ROOT, env).cities.values():
            found.append(Render(f"{env}/{city.slug}", render_city(engine, city).objects))
    for env in ENVIRONMENTS:
        platform = render_platform(engine, PROJECT_ROOT, env)
        found.append(Render(f"platform/{env}", platform.objects))
    return tuple(found)


def case_id(render: Render, obj: dict[str, Any]) -> str:
    meta = obj["metadata"]
    where = f"{meta['namespace']}/" if "namespace" in meta else ""
    return f"{render.label}:{obj['kind']}:{where}{meta['name']}"


def object_cases() -> list[Any]:
    return [pytest.param(r, o, id=case_id(r, o)) for r in renders() for o in r.objects]


def pod_cases() -> list[Any]:
    return [
        pytest.param(r, o, id=case_id(r, o)) for r in renders() for o in r.of_kinds(*POD_TEMPLATES)
    ]


def pod_from(obj: dict[str, Any]) -> dict[str, Any]:
    """The Pod the workload's controller would create (first replica)."""
    template: Any = obj
    for key in POD_TEMPLATES[obj["kind"]]:
        template = template[key]
    meta = template.get("metadata", {})
    spec = copy.deepcopy(template["spec"])
    name = str(obj["metadata"]["name"])
    if obj["kind"] == "StatefulSet":
        # the StatefulSet controller adds a volume per claim template, named after it
        for claim in obj["spec"].get("volumeClaimTemplates", []):
            claim_name = claim["metadata"]["name"]
            spec.setdefault("volumes", []).append(
                {
                    "name": claim_name,
                    "persistentVolumeClaim": {"claimName": f"{claim_name}-{name}-0"},
                }
            )
        spec.setdefault("hostname", f"{name}-0")
        spec.setdefault("subdomain", obj["spec"].get("serviceName", ""))
    pod_meta: dict[str, Any] = {
        "name": f"{name}-0" if obj["kind"] == "StatefulSet" else f"{name}-admission",
        "namespace": obj["metadata"]["namespace"],
        "labels": meta.get("labels", {}),
    }
    if meta.get("annotations"):
        pod_meta["annotations"] = meta["annotations"]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": spec}


def _quota_computed(client: KubeClient, namespace: str, name: str) -> bool | None:
    quota = client.get("v1", "ResourceQuota", name, namespace) or {}
    hard = quota.get("spec", {}).get("hard")
    return True if hard and quota.get("status", {}).get("hard") == hard else None


class Namespaces:
    """The real namespaces (and pod policies) of one render at a time, per namespace."""

    def __init__(self, client: KubeClient) -> None:
        self.client = client
        #: namespace -> the render whose Namespace object (and policies) it carries
        self.labels_of: dict[str, str] = {}
        self.policies_of: dict[str, str] = {}
        self.policy_objects: dict[str, list[dict[str, Any]]] = {}

    def prepare(self, render: Render, policies: bool = False) -> None:
        for namespace in render.of_kinds("Namespace"):
            name = namespace["metadata"]["name"]
            if self.labels_of.get(name) != render.label:
                self.client.apply(namespace, dry_run=False, field_manager=FIELD_MANAGER)
                self.labels_of[name] = render.label
        for name in sorted(render.used_namespaces() - set(self.labels_of)):
            # used but not rendered (the monitoring stack's namespace): plain, unlabelled
            self.client.apply(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}},
                dry_run=False,
                field_manager=FIELD_MANAGER,
            )
            self.labels_of[name] = "(not rendered)"
        if policies:
            for name in sorted(render.used_namespaces()):
                self._policies(render, name)

    def _policies(self, render: Render, namespace: str) -> None:
        if self.policies_of.get(namespace) == render.label:
            return
        for old in self.policy_objects.pop(namespace, []):
            meta = old["metadata"]
            self.client.delete(old["apiVersion"], old["kind"], meta["name"], namespace)
        wanted = [
            o for o in render.of_kinds(*POLICY_KINDS) if o["metadata"]["namespace"] == namespace
        ]
        for obj in wanted:
            self.client.apply(obj, dry_run=False, field_manager=FIELD_MANAGER)
        for quota in (o for o in wanted if o["kind"] == "ResourceQuota"):
            name = quota["metadata"]["name"]
            wait_for(
                f"ResourceQuota {namespace}/{name} computed",
                partial(_quota_computed, self.client, namespace, name),
                WAIT,
            )
        self.policy_objects[namespace] = wanted
        self.policies_of[namespace] = render.label

    def remove_all(self) -> None:
        names = sorted(self.labels_of)
        for name in names:
            self.client.delete("v1", "Namespace", name)
        for name in names:
            wait_for(
                f"namespace {name} deleted",
                partial(gone, self.client, "v1", "Namespace", name),
                WAIT,
            )
        self.labels_of.clear()
        self.policies_of.clear()
        self.policy_objects.clear()


@pytest.fixture(scope="module")
def namespaces(control_plane: ControlPlane) -> Iterator[Namespaces]:
    keeper = Namespaces(control_plane.client)
    try:
        yield keeper
    finally:
        keeper.remove_all()


def admitted(
    render: Render, obj: dict[str, Any], write: Callable[[], tuple[Any, tuple[str, ...]]]
) -> None:
    """``write`` (a dry-run of ``obj``) is accepted, with no warning; else fail naming
    the render, the object and the server's message."""
    try:
        _, warnings = write()
    except ApiError as error:
        failure = f"refused ({error.status} {error.reason}): {error.message}"
    else:
        if not warnings:
            return
        failure = "accepted with warnings: " + " | ".join(warnings)
    pytest.fail(f"{render.label}: {object_id(obj)} {failure}", pytrace=False)


@pytest.mark.parametrize(("render", "obj"), object_cases())
def test_rendered_object_is_admitted_without_warnings(
    control_plane: ControlPlane, namespaces: Namespaces, render: Render, obj: dict[str, Any]
) -> None:
    namespaces.prepare(render)
    client = control_plane.client
    admitted(render, obj, partial(client.apply, obj, dry_run=True, field_manager=FIELD_MANAGER))


@pytest.mark.parametrize(("render", "obj"), pod_cases())
def test_pod_of_each_template_is_admitted(
    control_plane: ControlPlane, namespaces: Namespaces, render: Render, obj: dict[str, Any]
) -> None:
    namespaces.prepare(render, policies=True)
    pod = pod_from(obj)
    namespace = pod["metadata"]["namespace"]
    rendered = {n["metadata"]["name"]: n for n in render.of_kinds("Namespace")}
    live = control_plane.client.get("v1", "Namespace", namespace) or {}
    wanted = rendered.get(namespace, {}).get("metadata", {}).get("labels", {}).get(ENFORCE)
    # the Pod is judged under the labels the render gives its namespace
    assert live.get("metadata", {}).get("labels", {}).get(ENFORCE) == wanted
    admitted(render, pod, partial(control_plane.client.create, pod, dry_run=True))


def test_every_render_has_objects_and_pod_templates() -> None:
    """Guards the parametrization: the renders were found and carry workloads."""
    labels = [r.label for r in renders()]
    assert {"dev/demo", "platform/dev", "platform/staging", "platform/prod"} <= set(labels)
    assert all(r.objects for r in renders())
    assert len(pod_cases()) >= len([r for r in renders() if not r.label.startswith("platform/")])


# ---------------------------------------------------------------- the tier can fail

PROBE_RESTRICTED = "admission-probe-restricted"
PROBE_UNLABELLED = "admission-probe-unlabelled"
POLICY = "restricted:v1.35"


@pytest.fixture(scope="module")
def probes(control_plane: ControlPlane, namespaces: Namespaces) -> KubeClient:
    """Two probe namespaces: Pod Security ``restricted`` enforced, and no label at all."""
    client = control_plane.client
    levels = {"enforce": "restricted", "warn": "restricted"}
    labels = {f"pod-security.kubernetes.io/{mode}": level for mode, level in levels.items()}
    labels |= {f"pod-security.kubernetes.io/{mode}-version": "v1.35" for mode in levels}
    for name, wanted in ((PROBE_RESTRICTED, labels), (PROBE_UNLABELLED, {})):
        metadata: dict[str, Any] = {"name": name, "labels": wanted} if wanted else {"name": name}
        namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}
        client.apply(namespace, dry_run=False, field_manager=FIELD_MANAGER)
        namespaces.labels_of[name] = "(probe)"
        # the ServiceAccount admission plugin needs the namespace's default account
        wait_for(
            f"ServiceAccount {name}/default",
            partial(client.get, "v1", "ServiceAccount", "default", name),
            WAIT,
        )
    return client


def privileged_pod_spec() -> dict[str, Any]:
    return {
        "containers": [
            {
                "name": "probe",
                "image": "registry.invalid/probe:1",
                "securityContext": {"privileged": True},
            }
        ]
    }


def test_privileged_pod_is_refused_where_restricted_is_enforced(probes: KubeClient) -> None:
    metadata = {"name": "privileged", "namespace": PROBE_RESTRICTED}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": privileged_pod_spec()}
    with pytest.raises(ApiError) as refused:
        probes.create(pod, dry_run=True)
    assert refused.value.status == 403, refused.value
    assert f'violates PodSecurity "{POLICY}"' in refused.value.message
    assert "privileged" in refused.value.message
    # the same Pod where no level is enforced: it was Pod Security that refused it
    metadata["namespace"] = PROBE_UNLABELLED
    _, warnings = probes.create(pod, dry_run=True)
    assert warnings == ()


def test_pod_template_breaking_the_policy_draws_a_warning(probes: KubeClient) -> None:
    labels = {"app": "probe"}
    statefulset = {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": "privileged", "namespace": PROBE_RESTRICTED},
        "spec": {
            "serviceName": "privileged",
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": privileged_pod_spec()},
        },
    }
    _, warnings = probes.apply(statefulset, dry_run=True, field_manager=FIELD_MANAGER)
    assert any(f'would violate PodSecurity "{POLICY}"' in w for w in warnings), warnings


def test_unknown_field_is_refused_by_apply_and_warned_about_by_create(
    probes: KubeClient,
) -> None:
    """Server-side apply refuses a field the schema (built-in or CRD) does not declare;
    a create warns (``fieldValidation`` Warn, the default) or refuses (Strict)."""
    config_map = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "typo", "namespace": PROBE_RESTRICTED},
        "data": {"a": "b"},
        "dta": {"c": "d"},
    }
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "typo", "namespace": PROBE_RESTRICTED},
        "spec": {"hostnames": ["probe.example.org"], "rule": []},
    }
    for obj, field in ((config_map, "dta"), (route, "spec.rule")):
        with pytest.raises(ApiError) as refused:
            probes.apply(obj, dry_run=True, field_manager=FIELD_MANAGER)
        assert f".{field}: field not declared in schema" in refused.value.message
        _, warnings = probes.create(obj, dry_run=True)
        assert warnings == (f'unknown field "{field}"',)
        with pytest.raises(ApiError) as strict:
            probes.create(obj, dry_run=True, field_validation="Strict")
        assert f'strict decoding error: unknown field "{field}"' in strict.value.message


def test_crd_validation_rule_refuses_a_bad_object(probes: KubeClient) -> None:
    route = {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "bad-filter", "namespace": PROBE_RESTRICTED},
        "spec": {"rules": [{"filters": [{"type": "RequestHeaderModifier"}]}]},
    }
    with pytest.raises(ApiError) as refused:
        probes.apply(route, dry_run=True, field_manager=FIELD_MANAGER)
    assert refused.value.status == 422, refused.value
    assert "requestHeaderModifier must be specified" in refused.value.message
