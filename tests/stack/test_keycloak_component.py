"""The Keycloak component under mocks: the inputs that matter, not just that objects exist."""

from __future__ import annotations

from pathlib import Path

import pytest

from ociam.profiles import PROFILES, memory_limit_mb
from ociam.render.service import RenderedCity
from tests.stack.stack_support import container, edit_yaml, env_of, make_checkout, one, render

DEV_ALL = Path("inventories/dev/group_vars/all.yml")
DEMO = Path("inventories/dev/group_vars/demo.yml")


def test_optimized_build_runs_in_an_init_container_of_the_same_image(demo: RenderedCity) -> None:
    build, server = container(demo, "kc-build"), container(demo)
    assert build["image"] == server["image"] == "quay.io/keycloak/keycloak:26.7.4"
    assert build["args"][0] == "build"
    assert {"--db=postgres", "--health-enabled=true", "--metrics-enabled=true"} <= set(
        build["args"]
    )
    assert server["args"] == ["start", "--optimized"]
    mounts = {m["mountPath"]: m for m in server["volumeMounts"]}
    # the server reads what the build wrote, and cannot change it
    assert mounts["/opt/keycloak/lib/quarkus"]["readOnly"] is True
    assert {m["mountPath"] for m in build["volumeMounts"]} >= {
        "/opt/keycloak/lib/quarkus",
        "/tmp",
        "/opt/keycloak/data",
    }
    assert (
        "readOnly"
        not in {m["mountPath"]: m for m in build["volumeMounts"]}["/opt/keycloak/lib/quarkus"]
    )


def test_hostname_proxy_and_http_settings(demo: RenderedCity) -> None:
    env = env_of(container(demo))
    assert env["KC_HOSTNAME"] == "https://demo.iam-dev.hameenlinna.fi"
    assert env["KC_HOSTNAME_ADMIN"] == "https://demo-admin.iam-dev.hameenlinna.fi"
    assert env["KC_PROXY_HEADERS"] == "xforwarded"
    assert env["KC_PROXY_TRUSTED_ADDRESSES"] == "10.244.0.0/16"
    assert env["KC_HTTP_ENABLED"] == "true"
    assert env["KC_HTTP_MANAGEMENT_PORT"] == "9000"
    assert env["KC_CACHE_STACK"] == "jdbc-ping"
    assert env["JAVA_OPTS_KC_HEAP"].split().count("-XX:MaxRAMPercentage=70") == 1


def test_database_and_bootstrap_admin_come_from_secrets(demo: RenderedCity) -> None:
    env = env_of(container(demo))
    assert env["KC_DB_URL_HOST"] == "keycloak-db-rw"
    assert env["KC_DB_URL_DATABASE"] == "keycloak"
    assert "sslmode=verify-full" in env["KC_DB_URL_PROPERTIES"]
    for name, key in (("KC_DB_USERNAME", "username"), ("KC_DB_PASSWORD", "password")):
        assert env[name] == {"secretKeyRef": {"name": "keycloak-db-app", "key": key}}
    for name, key in (
        ("KC_BOOTSTRAP_ADMIN_USERNAME", "username"),
        ("KC_BOOTSTRAP_ADMIN_PASSWORD", "password"),
        ("KC_BOOTSTRAP_ADMIN_CLIENT_ID", "client-id"),
        ("KC_BOOTSTRAP_ADMIN_CLIENT_SECRET", "client-secret"),
    ):
        assert env[name] == {"secretKeyRef": {"name": "keycloak-bootstrap-admin", "key": key}}
    secret = one(demo, "Secret", "keycloak-bootstrap-admin")
    assert secret["stringData"] == dict.fromkeys(
        ("username", "password", "client-id", "client-secret"), "<secret>"
    )
    # only the CA certificate of the database is mounted, never its key
    volumes = {
        v["name"]: v
        for v in one(demo, "StatefulSet", "keycloak")["spec"]["template"]["spec"]["volumes"]
    }
    assert volumes["db-ca"]["secret"]["items"] == [{"key": "ca.crt", "path": "ca.crt"}]


def test_probes_on_the_management_port(demo: RenderedCity) -> None:
    server = container(demo)
    paths = {
        probe: server[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "readinessProbe", "livenessProbe")
    }
    assert paths == {
        "startupProbe": "/health/started",
        "readinessProbe": "/health/ready",
        "livenessProbe": "/health/live",
    }
    assert {server[p]["httpGet"]["port"] for p in paths} == {"management"}
    ports = {p["name"]: p["containerPort"] for p in server["ports"]}
    assert ports == {"http": 8080, "management": 9000, "jgroups": 7800, "jgroups-fd": 57800}


def test_ldaps_name_resolves_to_the_city_hub_address(demo: RenderedCity) -> None:
    spec = one(demo, "StatefulSet", "keycloak")["spec"]["template"]["spec"]
    assert spec["hostAliases"] == [{"ip": "172.21.0.99", "hostnames": ["ad.demo.example"]}]
    egress = one(demo, "NetworkPolicy", "keycloak-egress")["spec"]["egress"]
    ldap_rules = [r for r in egress if any(p["port"] == 636 for p in r["ports"])]
    assert ldap_rules == [
        {
            "to": [{"ipBlock": {"cidr": "172.21.0.99/32"}}],
            "ports": [{"port": 636, "protocol": "TCP"}],
        }
    ]


@pytest.mark.parametrize("profile", ["dev", "small", "ha"])
def test_replicas_and_resources_follow_the_profile(tmp_path: Path, profile: str) -> None:
    root = make_checkout(tmp_path / "checkout")
    edit_yaml(root / DEMO, lambda d: d.update(size_profile=profile))
    rendered = render(root, "dev", "demo")
    size = PROFILES[profile]  # type: ignore[index]
    sts = one(rendered, "StatefulSet", "keycloak")
    assert (
        sts["spec"]["replicas"]
        == size.keycloak_replicas
        == {"dev": 1, "small": 2, "ha": 3}[profile]
    )
    assert container(rendered)["resources"] == size.keycloak.as_k8s()
    cluster = one(rendered, "Cluster", "keycloak-db")
    assert cluster["spec"]["instances"] == size.postgres_instances
    pdb = one(rendered, "PodDisruptionBudget", "keycloak")
    assert pdb["spec"]["maxUnavailable"] == 1


def test_memory_limit_follows_the_sizing_guide() -> None:
    # (request - 300 MB non-heap) / 0.7, the guide's own example: 1250 -> 1360
    assert memory_limit_mb(1250) == 1360
    for size in PROFILES.values():
        kc = size.keycloak
        assert kc.cpu_limit_m == 3 * kc.cpu_request_m
        assert kc.memory_limit_mb == memory_limit_mb(kc.memory_request_mb)


def test_image_digest_is_used_only_when_the_catalog_has_one(tmp_path: Path) -> None:
    digest = "sha256:" + "ab" * 32
    root = make_checkout(tmp_path / "checkout")
    edit_yaml(root / DEV_ALL, lambda d: d["images"]["keycloak"].update(digest=digest))
    rendered = render(root, "dev", "demo")
    assert container(rendered)["image"] == f"quay.io/keycloak/keycloak:26.7.4@{digest}"
    assert container(rendered, "kc-build")["image"] == container(rendered)["image"]


def test_ldap_ca_from_the_catalog_becomes_the_truststore(tmp_path: Path) -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2E=\n-----END CERTIFICATE-----\n"
    root = make_checkout(tmp_path / "checkout")
    edit_yaml(root / DEMO, lambda d: d["ldap"].update(ca_certificate=pem))
    rendered = render(root, "dev", "demo")
    assert one(rendered, "ConfigMap", "ldap-ca")["data"] == {"ldap-ca.pem": pem}
    env = env_of(container(rendered))
    assert env["KC_TRUSTSTORE_PATHS"] == "/opt/keycloak/conf/truststores/ldap-ca.pem"
