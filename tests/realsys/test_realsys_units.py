"""The real-system tiers' own machinery, without the systems: fast checks that it is strict.

A test kubelet that silently dropped an unsupported field, or a comparator that
accepted a changed value, would let a broken render pass the keycloak tier.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.keycloak.gateway import Route
from tests.keycloak.metrics import parse_exposition, selectors
from tests.keycloak.realm_import import MASK, differences
from tests.realsys.images import nearest_patch
from tests.realsys.pod_runner import ClusterState, Pod, PodError, expand, resolve_env
from tests.realsys.quantities import cpu_cores, memory_bytes
from tests.realsys.rootfs import BuildError, apt_mirrors


def test_nearest_served_patch_of_the_same_minor() -> None:
    served = ["26.5.6", "26.7.0", "26.7.3", "26.7.5", "27.0.0", "26.7.4-SNAPSHOT"]
    assert nearest_patch("26.7.4", served) == "26.7.5"  # a tie goes to the newer
    assert nearest_patch("26.7.1", served) == "26.7.0"
    assert nearest_patch("26.6.1", served) is None


def test_quantities() -> None:
    assert cpu_cores("1500m") == 1.5 and cpu_cores("2") == 2
    assert memory_bytes("1360M") == 1_360_000_000 and memory_bytes("1Gi") == 2**30
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        memory_bytes("1.5 GB")


def test_kubernetes_variable_expansion() -> None:
    assert expand("$(A)-$$(A)-$(B)", {"A": "x"}) == "x-$(A)-$(B)"


STATE_OBJECTS: list[dict[str, Any]] = [
    {
        "kind": "Secret",
        "metadata": {"name": "s", "namespace": "ns"},
        "stringData": {"user": "admin", "pass": "<secret>"},
    },
    {"kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}, "data": {"k": "v"}},
    {"kind": "Secret", "metadata": {"name": "other", "namespace": "elsewhere"}, "data": {}},
]


def state() -> ClusterState:
    return ClusterState.from_manifests("ns", STATE_OBJECTS, lambda name, key: f"test-{name}-{key}")


def test_rendered_placeholders_get_test_values_and_other_namespaces_are_ignored() -> None:
    cluster = state()
    assert cluster.secrets["s"] == {"user": b"admin", "pass": b"test-s-pass"}
    assert "other" not in cluster.secrets


def test_env_is_resolved_like_a_kubelet_and_missing_references_are_refused() -> None:
    container = {
        "name": "c",
        "env": [
            {"name": "A", "value": "1"},
            {"name": "P", "valueFrom": {"secretKeyRef": {"name": "s", "key": "pass"}}},
            {"name": "K", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "k"}}},
            {"name": "N", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "B", "value": "$(A)$(P)"},
            {
                "name": "O",
                "valueFrom": {"secretKeyRef": {"name": "s", "key": "x", "optional": True}},
            },
        ],
    }
    env = resolve_env(container, state(), {"metadata.name": "pod-0"})
    assert env == {"A": "1", "P": "test-s-pass", "K": "v", "N": "pod-0", "B": "1test-s-pass"}
    missing = {
        "name": "c",
        "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "s", "key": "x"}}}],
    }
    with pytest.raises(PodError, match="couldn't find key x in Secret ns/s"):
        resolve_env(missing, state(), {})
    with pytest.raises(PodError, match='secret "nope" not found'):
        resolve_env(
            {
                "name": "c",
                "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "nope", "key": "k"}}}],
            },
            state(),
            {},
        )


def _template(**spec: Any) -> dict[str, Any]:
    container = {"name": "c", "image": "registry.example/app:1"}
    return {"spec": {"automountServiceAccountToken": False, "containers": [container], **spec}}


@pytest.mark.parametrize(
    ("template", "images", "message"),
    [
        (_template(automountServiceAccountToken=True), {"registry.example/app:1": "x"}, "token"),
        (_template(), {}, "ErrImagePull"),
        (_template(hostNetwork=True), {"registry.example/app:1": "x"}, "hostNetwork"),
    ],
)
def test_the_test_kubelet_refuses_what_it_cannot_honour(
    template: dict[str, Any], images: dict[str, str], message: str, tmp_path: Path
) -> None:
    with pytest.raises(PodError, match=message):
        Pod(
            name="p",
            template=template,
            state=state(),
            network="n",
            images=images,
            work_dir=tmp_path,
        )


def test_gateway_routes_only_the_rendered_paths() -> None:
    route = Route.from_manifest(
        {
            "spec": {
                "hostnames": ["city.example"],
                "rules": [
                    {"matches": [{"path": {"type": "PathPrefix", "value": "/realms/employees/"}}]}
                ],
            }
        }
    )
    assert route.routes("city.example", "/realms/employees/protocol/openid-connect/auth")
    assert route.routes("city.example", "/realms/employees")
    assert not route.routes("city.example", "/realms/employeesX/")
    assert not route.routes("city.example", "/realms/master/")
    assert not route.routes("other.example", "/realms/employees/")


def test_prometheus_exposition_and_rule_selectors() -> None:
    samples = parse_exposition(
        '# HELP x\nkeycloak_user_events_total{error="",event="login",realm="r"} 2.0\nup 1\n'
    )
    assert (
        samples[0].labels == {"error": "", "event": "login", "realm": "r"} and samples[1].value == 1
    )
    (selector,) = selectors(
        'sum(rate(keycloak_user_events_total{event="login", error!=""}[5m])) > 1'
    )
    assert selector.name == "keycloak_user_events_total"
    assert not selector.matches(samples[0])
    failed = parse_exposition(
        'keycloak_user_events_total{error="invalid_user_credentials",event="login"} 1'
    )
    assert selector.matches(failed[0])


def test_the_export_comparison_finds_ignored_and_rewritten_values() -> None:
    expected = {
        "enabled": True,
        "clients": [
            {"clientId": "app", "secret": "s3cret", "redirectUris": ["https://a/", "https://b/"]}
        ],
        "attributes": {"userProfileEnabled": "true"},
    }
    app = {
        "clientId": "app",
        "secret": MASK,
        "redirectUris": ["https://b/", "https://a/"],
        "id": "1",
    }
    kept: dict[str, Any] = {
        "enabled": True,
        "clients": [app, {"clientId": "account"}],
        "attributes": {"userProfileEnabled": "true", "other": "x"},
    }
    assert differences(expected, kept) == []
    rewritten = {**kept, "attributes": {}}
    assert differences(expected, rewritten) == [
        "attributes.userProfileEnabled: not in Keycloak's export (ignored)"
    ]
    changed = {**kept, "clients": [{**app, "redirectUris": ["https://a/"]}]}
    assert len(differences(expected, changed)) == 1


def test_the_apt_mirror_is_read_from_this_machines_sources(tmp_path: Path) -> None:
    sources = tmp_path / "sources.list.d"
    sources.mkdir()
    (sources / "debian.sources").write_text(
        "Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n\n"
        "Types: deb\nURIs: http://mirror.example/debian-security\nSuites: bookworm-security\n"
    )
    mirrors = apt_mirrors(sources, tmp_path / "sources.list")
    assert mirrors.archive == "http://mirror.example/debian"
    assert mirrors.security == "http://mirror.example/debian-security"
    with pytest.raises(BuildError, match="no apt mirror"):
        apt_mirrors(tmp_path / "none", tmp_path / "none.list")
