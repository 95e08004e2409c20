"""Invariants over every rendered city of every environment, and strict validation."""

from __future__ import annotations

import re
from typing import Any

import pytest

from ociam.components.exposure import PUBLIC_RESOURCES_REGEX
from ociam.render.service import RenderedCity, Validators
from tests.realsys.quantities import cpu_cores, memory_bytes
from tests.stack.stack_support import all_stacks, objects_of, pod_templates

STACKS = sorted(all_stacks())
RECOMMENDED = {
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
    "ociam.fi/city",
    "ociam.fi/env",
}
LONG_RUNNING = {"StatefulSet", "Deployment", "DaemonSet"}


@pytest.fixture(params=STACKS, ids=[f"{env}-{city}" for env, city in STACKS])
def rendered(
    request: pytest.FixtureRequest, seed_renders: dict[tuple[str, str], RenderedCity]
) -> RenderedCity:
    return seed_renders[request.param]


def test_every_object_is_valid_against_its_schema(
    rendered: RenderedCity, validators: Validators
) -> None:
    problems = validators.validate(rendered)
    assert not problems, "\n".join(p.render() for p in problems)


def test_objects_are_unique_and_recorded_under_their_own_names(rendered: RenderedCity) -> None:
    ids = [
        (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"]) for o in rendered.objects
    ]
    assert len(ids) == len(set(ids))
    for step in rendered.result.kubernetes_steps:
        assert step.inputs is not None
        assert step.inputs["kind"] == step.type.rsplit(":", 1)[-1], step.urn


def test_every_object_carries_the_recommended_labels(rendered: RenderedCity) -> None:
    for obj in rendered.objects:
        labels = obj["metadata"].get("labels", {})
        assert set(labels) >= RECOMMENDED, f"{obj['kind']} {obj['metadata']['name']}"
        assert labels["ociam.fi/city"] == rendered.city.slug
        assert labels["ociam.fi/env"] == rendered.city.env
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == rendered.city.namespace


def _restricted_violations(where: str, spec: dict[str, Any]) -> list[str]:
    found = []
    pod_ctx = spec.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(flag):
            found.append(f"{where}: {flag}")
    for volume in spec.get("volumes", []):
        if "hostPath" in volume:
            found.append(f"{where}: hostPath volume {volume['name']}")
    for c in spec.get("initContainers", []) + spec["containers"]:
        ctx = c.get("securityContext", {})
        name = f"{where}/{c['name']}"
        if not (ctx.get("runAsNonRoot") or pod_ctx.get("runAsNonRoot")):
            found.append(f"{name}: runAsNonRoot")
        if 0 in (ctx.get("runAsUser"), pod_ctx.get("runAsUser")):
            found.append(f"{name}: runs as uid 0")
        if ctx.get("allowPrivilegeEscalation") is not False:
            found.append(f"{name}: allowPrivilegeEscalation")
        if ctx.get("privileged"):
            found.append(f"{name}: privileged")
        caps = ctx.get("capabilities", {})
        if "ALL" not in caps.get("drop", []) or set(caps.get("add", [])) - {"NET_BIND_SERVICE"}:
            found.append(f"{name}: capabilities")
        seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if seccomp not in {"RuntimeDefault", "Localhost"}:
            found.append(f"{name}: seccompProfile")
        if ctx.get("readOnlyRootFilesystem") is not True:
            found.append(f"{name}: readOnlyRootFilesystem")
    return found


def test_pod_security_restricted_holds_for_every_pod_template(rendered: RenderedCity) -> None:
    templates = pod_templates(rendered)
    assert templates, "no workload rendered"
    violations = [v for where, spec in templates for v in _restricted_violations(where, spec)]
    assert not violations
    (namespace,) = objects_of(rendered, "Namespace")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_every_pod_is_selected_by_a_default_deny_policy(rendered: RenderedCity) -> None:
    deny = [
        p
        for p in objects_of(rendered, "NetworkPolicy")
        if p["spec"]["podSelector"] == {}
        and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
        and not p["spec"].get("ingress")
        and not p["spec"].get("egress")
    ]
    assert len(deny) == 1
    assert deny[0]["metadata"]["namespace"] == rendered.city.namespace


def test_every_container_has_requests_limits_and_probes(rendered: RenderedCity) -> None:
    for obj in rendered.objects:
        for where, spec in pod_templates_of(obj):
            for c in spec.get("initContainers", []) + spec["containers"]:
                resources = c.get("resources", {})
                for part in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(resources.get(part, {})), f"{where}/{c['name']}"
            if obj["kind"] in LONG_RUNNING:
                for c in spec["containers"]:
                    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                        assert probe in c, f"{where}/{c['name']}: {probe}"


def test_every_container_fits_the_limit_range_and_every_pod_the_quota(
    rendered: RenderedCity,
) -> None:
    """What LimitRanger and ResourceQuota admission would refuse (a real API server does:
    tests/cluster): a container over the LimitRange ceiling, or the workloads at their
    replicas plus one rollout surge pod, the database at its instances plus one, and
    one config Job at a time (the apply Job waits for the bootstrap Job, and a finished
    pod no longer counts) over the quota. Init containers count as Kubernetes counts
    them: a pod needs the larger of its largest init container and the sum of its app
    containers."""
    (limits,) = objects_of(rendered, "LimitRange")
    (ceiling,) = [item["max"] for item in limits["spec"]["limits"] if item["type"] == "Container"]
    (quota,) = objects_of(rendered, "ResourceQuota")
    hard = quota["spec"]["hard"]
    used = {"limits.cpu": 0.0, "limits.memory": 0.0, "requests.cpu": 0.0, "requests.memory": 0.0}
    jobs: dict[str, float] = dict.fromkeys(used, 0.0)
    for obj in rendered.objects:
        for where, spec in pod_templates_of(obj):
            containers = spec.get("initContainers", []) + spec["containers"]
            for c in containers:
                limit = c["resources"]["limits"]
                assert cpu_cores(limit["cpu"]) <= cpu_cores(ceiling["cpu"]), f"{where}/{c['name']}"
                assert memory_bytes(limit["memory"]) <= memory_bytes(ceiling["memory"]), (
                    f"{where}/{c['name']}"
                )
            pods = obj["spec"].get("replicas", 1) + (1 if obj["kind"] in LONG_RUNNING else 0)
            for part in ("limits", "requests"):
                for resource, amount in (("cpu", cpu_cores), ("memory", memory_bytes)):
                    values = [amount(c["resources"][part][resource]) for c in containers]
                    app = sum(values[len(spec.get("initContainers", [])) :])
                    pod = max([app, *values[: len(spec.get("initContainers", []))]])
                    key = f"{part}.{resource}"
                    if obj["kind"] == "Job":
                        jobs[key] = max(jobs[key], pod)
                    else:
                        used[key] += pod * pods
    for cluster in objects_of(rendered, "Cluster"):  # CloudNativePG: one pod per instance
        pods = cluster["spec"]["instances"] + 1
        for part in ("limits", "requests"):
            for resource, amount in (("cpu", cpu_cores), ("memory", memory_bytes)):
                value = amount(cluster["spec"]["resources"][part][resource])
                used[f"{part}.{resource}"] += value * pods
    for key, workloads in used.items():
        need = workloads + jobs[key]
        amount = cpu_cores if key.endswith("cpu") else memory_bytes
        assert need <= amount(hard[key]), f"{key}: workloads need {need}, quota {hard[key]}"


def pod_templates_of(obj: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    if obj["kind"] in LONG_RUNNING | {"Job"}:
        return [(f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]["spec"])]
    return []


SECRETISH = re.compile(r"(PASSWORD|SECRET|TOKEN|CREDENTIAL)", re.IGNORECASE)


def test_no_secret_value_and_no_password_looking_string(rendered: RenderedCity) -> None:
    text = "".join(rendered.files.values())
    assert "offline-placeholder-" not in text
    assert "offline-generated-" not in text
    for secret in objects_of(rendered, "Secret"):
        assert "data" not in secret
        assert set(secret["stringData"].values()) == {"<secret>"}
    for where, spec in pod_templates(rendered):
        for c in spec.get("initContainers", []) + spec["containers"]:
            for env in c.get("env", []):
                if SECRETISH.search(env["name"]):
                    assert "value" not in env, f"{where}/{c['name']}: {env['name']} in clear"
    assert not re.search(r"(?i)password\s*[:=]\s*(?!<secret>|\$)[^\s\"',]{6,}", text)


def test_admin_paths_are_not_routed_on_the_public_hostname(rendered: RenderedCity) -> None:
    public = rendered.city.hostnames.public
    for route in objects_of(rendered, "HTTPRoute"):
        spec = route["spec"]
        for rule in spec["rules"]:
            for backend in rule["backendRefs"]:
                assert backend["port"] != 9000, "management port routed through the gateway"
        if public not in spec["hostnames"]:
            continue
        matches = [m["path"] for r in spec["rules"] for m in r["matches"]]
        prefixes = [m["value"] for m in matches if m["type"] == "PathPrefix"]
        assert all(not p.startswith(("/admin", "/realms/master")) for p in prefixes), prefixes
        assert all(p.startswith(("/realms/", "/.well-known/")) for p in prefixes), prefixes
        # theme resources only by the expression that leaves out the admin console's
        # (tests/security/test_admin_exposure.py proves it against Keycloak's admin paths)
        others = [m for m in matches if m["type"] != "PathPrefix"]
        assert others == [{"type": "RegularExpression", "value": PUBLIC_RESOURCES_REGEX}]


def test_the_pdb_allows_a_node_drain(rendered: RenderedCity) -> None:
    for pdb in objects_of(rendered, "PodDisruptionBudget"):
        selector = pdb["spec"]["selector"]["matchLabels"]
        workloads = [
            o
            for o in rendered.objects
            if o["kind"] in LONG_RUNNING and o["spec"]["selector"]["matchLabels"] == selector
        ]
        assert len(workloads) == 1
        replicas = workloads[0]["spec"]["replicas"]
        if "maxUnavailable" in pdb["spec"]:
            assert pdb["spec"]["maxUnavailable"] >= 1
        else:
            assert replicas - pdb["spec"]["minAvailable"] >= 1


def test_images_come_from_the_catalog_and_digests_are_never_invented(
    rendered: RenderedCity,
) -> None:
    images = rendered.city.settings.images
    allowed = {images.keycloak.reference, images.keycloak_config_cli.reference}
    for where, spec in pod_templates(rendered):
        for c in spec.get("initContainers", []) + spec["containers"]:
            assert c["image"] in allowed, f"{where}/{c['name']}: {c['image']}"
    for cluster in objects_of(rendered, "Cluster"):
        assert cluster["spec"]["imageName"] == images.postgresql.reference
    # references are the catalog's verbatim: a digest only where the catalog has one


def test_the_restricted_check_finds_what_it_looks_for() -> None:
    loose = {
        "hostNetwork": True,
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
        "containers": [{"name": "c", "securityContext": {"runAsUser": 0, "privileged": True}}],
    }
    found = " ".join(_restricted_violations("Pod/x", loose))
    for expected in (
        "hostNetwork",
        "hostPath",
        "runAsNonRoot",
        "uid 0",
        "allowPrivilegeEscalation",
        "privileged",
        "capabilities",
        "seccompProfile",
        "readOnlyRootFilesystem",
    ):
        assert expected in found
