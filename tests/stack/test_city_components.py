"""Database, exposure, network, monitoring and secrets components: their important inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ociam.catalog import load_environment
from ociam.catalog.secrets import SecretRef, iter_secret_refs
from ociam.engines import Engine, EngineError, SecretLeakError, StackRef
from ociam.engines.offline import OfflineEngine
from ociam.render.service import RenderedCity, Validators
from tests.stack.stack_support import (
    PROJECT_ROOT,
    container,
    edit_yaml,
    env_of,
    make_checkout,
    objects_of,
    one,
    render,
)

DEV_ALL = Path("inventories/dev/group_vars/all.yml")
DEMO = Path("inventories/dev/group_vars/demo.yml")


def test_cloudnativepg_cluster_backups_through_the_barman_plugin(demo: RenderedCity) -> None:
    cluster = one(demo, "Cluster", "keycloak-db")["spec"]
    assert cluster["imageName"] == "ghcr.io/cloudnative-pg/postgresql:18.1-minimal-trixie"
    assert cluster["bootstrap"] == {"initdb": {"database": "keycloak", "owner": "keycloak"}}
    assert cluster["enableSuperuserAccess"] is False
    assert cluster["plugins"] == [
        {
            "name": "barman-cloud.cloudnative-pg.io",
            "isWALArchiver": True,
            "parameters": {"barmanObjectName": "keycloak-db-backup"},
        }
    ]
    store = one(demo, "ObjectStore", "keycloak-db-backup")["spec"]
    # one folder per city in the environment's bucket; credentials by reference only
    assert store["configuration"]["destinationPath"] == "s3://ociam-dev-pg-backups/demo"
    assert store["configuration"]["s3Credentials"]["accessKeyId"] == {
        "name": "pg-backup-s3",
        "key": "ACCESS_KEY_ID",
    }
    assert store["retentionPolicy"] == "7d"
    backup = one(demo, "ScheduledBackup", "keycloak-db-daily")["spec"]
    assert backup["method"] == "plugin"
    assert backup["pluginConfiguration"] == {"name": "barman-cloud.cloudnative-pg.io"}
    assert backup["schedule"] == "0 0 2 * * *"
    assert one(demo, "Secret", "pg-backup-s3")["stringData"] == {
        "ACCESS_KEY_ID": "<secret>",
        "ACCESS_SECRET_KEY": "<secret>",
    }


def test_external_database_replaces_cloudnativepg(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "checkout")

    def external(data: dict[str, Any]) -> None:
        data["database"] = {
            "mode": "external",
            "external": {
                "host": "pg.demo.example",
                "database": "keycloak",
                "username": "keycloak",
                "password": {"pulumi_secret": "dbPassword"},
                "egress_cidrs": ["192.0.2.10/32"],
            },
        }

    edit_yaml(root / DEMO, external)
    rendered = render(root, "dev", "demo")
    kinds = {obj["kind"] for obj in rendered.objects}
    assert not kinds & {"Cluster", "ScheduledBackup", "ObjectStore"}
    env = env_of(container(rendered))
    assert env["KC_DB_URL_HOST"] == "pg.demo.example"
    assert env["KC_DB_PASSWORD"] == {
        "secretKeyRef": {"name": "keycloak-db-external", "key": "password"}
    }
    assert one(rendered, "Secret", "keycloak-db-external")["stringData"]["password"] == "<secret>"
    egress = one(rendered, "NetworkPolicy", "keycloak-egress")["spec"]["egress"]
    assert {
        "to": [{"ipBlock": {"cidr": "192.0.2.10/32"}}],
        "ports": [{"port": 5432, "protocol": "TCP"}],
    } in egress
    assert not [
        p for p in objects_of(rendered, "NetworkPolicy") if "postgres" in p["metadata"]["name"]
    ]


def test_routes_public_host_gets_realms_only_admin_host_gets_console(demo: RenderedCity) -> None:
    public = one(demo, "HTTPRoute", "keycloak-public")["spec"]
    admin = one(demo, "HTTPRoute", "keycloak-admin")["spec"]
    assert public["hostnames"] == ["demo.iam-dev.hameenlinna.fi"]
    assert admin["hostnames"] == ["demo-admin.iam-dev.hameenlinna.fi"]
    public_paths = [
        (m["path"]["type"], m["path"]["value"]) for r in public["rules"] for m in r["matches"]
    ]
    assert public_paths == [
        ("PathPrefix", "/realms/employees/"),
        ("PathPrefix", "/realms/residents/"),
        ("PathPrefix", "/.well-known/"),
        # theme resources of the login, account and common types: never the admin console's
        ("RegularExpression", "^/resources/[^/]+/(login|account|common)/[^?#]*$"),
    ]
    admin_paths = [m["path"]["value"] for r in admin["rules"] for m in r["matches"]]
    assert "/admin/" in admin_paths
    for spec in (public, admin):
        assert [b["port"] for r in spec["rules"] for b in r["backendRefs"]] == [8080]
    listeners = one(demo, "ListenerSet", "keycloak")["spec"]
    assert listeners["parentRef"]["name"] == "shared"
    assert {item["hostname"] for item in listeners["listeners"]} == {
        "demo.iam-dev.hameenlinna.fi",
        "demo-admin.iam-dev.hameenlinna.fi",
    }
    cert = one(demo, "Certificate", "keycloak-tls")["spec"]
    assert cert["dnsNames"] == ["demo.iam-dev.hameenlinna.fi", "demo-admin.iam-dev.hameenlinna.fi"]
    assert cert["issuerRef"] == {
        "group": "cert-manager.io",
        "kind": "ClusterIssuer",
        "name": "letsencrypt-staging",
    }


def test_gateway_listener_mode_grants_the_certificate_instead(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "checkout")
    edit_yaml(root / DEV_ALL, lambda d: d["gateway"].update(listener_mode="gateway-listener"))
    rendered = render(root, "dev", "demo")
    assert not objects_of(rendered, "ListenerSet")
    grant = one(rendered, "ReferenceGrant", "gateway-reads-tls")["spec"]
    assert grant["to"] == [{"group": "", "kind": "Secret", "name": "keycloak-tls"}]
    route = one(rendered, "HTTPRoute", "keycloak-public")["spec"]
    assert route["parentRefs"][0]["kind"] == "Gateway"
    # the platform's listener of this hostname, never its plain-HTTP listener
    assert route["parentRefs"][0]["sectionName"] == "demo-public"
    admin = one(rendered, "HTTPRoute", "keycloak-admin")["spec"]
    assert admin["parentRefs"][0]["sectionName"] == "demo-admin"


def test_admin_allowlist_policy_is_rendered_by_default_on_envoy_gateway_and_valid(
    tmp_path: Path, validators: Validators
) -> None:
    root = make_checkout(tmp_path / "checkout")
    edit_yaml(root / DEV_ALL, lambda d: d["gateway"].pop("admin_allowlist_policy", None))
    rendered = render(root, "dev", "demo")
    policy = one(rendered, "SecurityPolicy", "keycloak-admin-allowlist")["spec"]
    assert policy["targetRefs"] == [
        {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": "keycloak-admin"}
    ]
    assert policy["authorization"]["defaultAction"] == "Deny"
    assert policy["authorization"]["rules"] == [
        {
            "name": "admin-allowlist",
            "action": "Allow",
            "principal": {"clientCIDRs": ["203.0.113.0/28", "198.51.100.144/28"]},
        }
    ]
    # ../shared/crds holds envoy-gateway's SecurityPolicy CRD (the release the platform pins)
    problems = [p for p in validators.validate(rendered) if p.object.startswith("SecurityPolicy")]
    assert problems == []


def test_admin_allowlist_left_to_the_platform_gateway_renders_no_policy(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "checkout")
    edit_yaml(root / DEV_ALL, lambda d: d["gateway"].update(admin_allowlist_policy=False))
    assert objects_of(render(root, "dev", "demo"), "SecurityPolicy") == []
    # another implementation: the platform gateway enforces it, by default
    edit_yaml(
        root / DEV_ALL,
        lambda d: d["gateway"].update(implementation="istio", admin_allowlist_policy=None),
    )
    assert objects_of(render(root, "dev", "demo"), "SecurityPolicy") == []


def test_network_policies_allow_exactly_the_needed_flows(demo: RenderedCity) -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in objects_of(demo, "NetworkPolicy")}
    assert policies["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    ingress = policies["keycloak-ingress"]["ingress"]
    gateway = ingress[0]
    assert gateway["ports"] == [{"port": 8080, "protocol": "TCP"}]
    # the gateway's proxy pods are matched by namespace and Envoy Gateway's proxy labels
    # (not the controller beside them); its pod CIDR is not an allowlist
    assert gateway["from"] == [
        {
            "namespaceSelector": {
                "matchLabels": {"kubernetes.io/metadata.name": "envoy-gateway-system"}
            },
            "podSelector": {
                "matchLabels": {
                    "app.kubernetes.io/component": "proxy",
                    "app.kubernetes.io/managed-by": "envoy-gateway",
                }
            },
        }
    ]
    # the same proxies reach cert-manager's HTTP-01 solver: certificate issuance
    solver = policies["acme-http01-solver-ingress"]
    assert solver["podSelector"] == {"matchLabels": {"acme.cert-manager.io/http01-solver": "true"}}
    assert solver["ingress"] == [
        {"from": gateway["from"], "ports": [{"port": 8089, "protocol": "TCP"}]}
    ]
    cluster_ports = {p["port"] for r in ingress for p in r["ports"]}
    assert cluster_ports == {8080, 7800, 57800}  # monitoring is off in dev: no 9000
    egress = policies["keycloak-egress"]["egress"]
    https = [r for r in egress if r["ports"] == [{"port": 443, "protocol": "TCP"}]]
    assert len(https) == 1
    excluded = https[0]["to"][0]["ipBlock"]["except"]
    assert {"10.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16"} <= set(excluded)
    pg_egress = policies["postgres-egress"]["egress"]
    assert {
        "to": [{"ipBlock": {"cidr": "10.240.4.0/28"}}],
        "ports": [{"port": 443, "protocol": "TCP"}, {"port": 6443, "protocol": "TCP"}],
    } in pg_egress


def test_monitoring_objects_when_the_environment_enables_them(
    seed_renders: dict[tuple[str, str], RenderedCity], demo: RenderedCity
) -> None:
    assert not objects_of(demo, "ServiceMonitor")
    assert not objects_of(demo, "PrometheusRule")
    prod = seed_renders[("prod", "pori")]
    monitor = one(prod, "ServiceMonitor", "keycloak")
    assert monitor["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    assert monitor["spec"]["endpoints"] == [
        {"port": "management", "path": "/metrics", "interval": "30s"}
    ]
    rules = one(prod, "PrometheusRule", "keycloak")["spec"]["groups"][0]["rules"]
    assert [r["alert"] for r in rules] == [
        "KeycloakDown",
        "KeycloakLoginFailureSpike",
        "PostgreSQLDown",
        "PostgreSQLBackupTooOld",
    ]
    ingress = one(prod, "NetworkPolicy", "keycloak-ingress")["spec"]["ingress"]
    assert {
        "from": [
            {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
        ],
        "ports": [{"port": 9000, "protocol": "TCP"}],
    } in ingress


def test_realm_secrets_come_from_pulumi_secret_config(demo: RenderedCity) -> None:
    secret = one(demo, "Secret", "realm-config-env")
    assert secret["stringData"] == dict.fromkeys(
        (
            "OCIAM_CONFIG_CLIENT_SECRET",
            "OCIAM_SECRET_ENTRA_CLIENT_SECRET",
            "OCIAM_SECRET_INTRANET_CLIENT_SECRET",
            "OCIAM_SECRET_LDAP_BIND_PASSWORD",
        ),
        "<secret>",
    )
    assert not [o for o in demo.objects if o["metadata"]["name"] == "realm-config-secrets"]
    assert demo.result.outputs["realm_secret"] == "realm-config-env"
    city = load_environment(PROJECT_ROOT, "dev").city("demo")
    assert list(city.secret_keys) == [
        "backupAccessKeyId",
        "backupSecretAccessKey",
        "entraClientSecret",
        "intranetClientSecret",
        "ldapBindPassword",
    ]
    assert iter_secret_refs({"a": [SecretRef(pulumi_secret="x")]}) == [
        ("a[0]", SecretRef(pulumi_secret="x"))
    ]


def test_stack_outputs_name_what_other_stacks_use(demo: RenderedCity) -> None:
    assert demo.result.outputs["bootstrap_secret"] == "keycloak-bootstrap-admin"
    assert demo.result.outputs["keycloak_service"] == "keycloak"
    assert demo.result.outputs["namespace"] == "iam-demo"
    tokens = {s.type for s in demo.result.steps if s.type.startswith("ociam:")}
    assert {
        "ociam:city:City",
        "ociam:namespace:CityNamespace",
        "ociam:secrets:CitySecrets",
        "ociam:database:Database",
        "ociam:keycloak:Keycloak",
        "ociam:exposure:Exposure",
        "ociam:network:NetworkPolicies",
    } <= tokens
    statefulset = next(s for s in demo.result.steps if s.name == "keycloak-statefulset")
    assert statefulset.parent_urn is not None and statefulset.parent_urn.endswith(
        "ociam:keycloak:Keycloak::keycloak"
    )


def test_offline_engine_implements_the_engine_interface() -> None:
    engine = OfflineEngine(PROJECT_ROOT)
    assert isinstance(engine, Engine)
    assert StackRef.parse("prod-pori") == StackRef("prod", "pori")
    with pytest.raises(ValueError, match="not <env>-<city>"):
        StackRef.parse("pori")
    with pytest.raises(EngineError, match="unknown city 'nowhere'"):
        engine.preview(StackRef("dev", "nowhere"))


LEAKY_PROGRAM = """
import pulumi
import pulumi_kubernetes as k8s
from ociam.components.artifacts import publish

secret = pulumi.Config("ociam").require_secret("ldapBindPassword")
{body}
"""


@pytest.mark.parametrize(
    "body",
    [
        # a secret taken out of its wrapper into a ConfigMap
        'k8s.core.v1.ConfigMap("leak", metadata={"name": "leak"}, '
        "data={'bind': pulumi.Output.unsecret(secret)})",
        # a secret written into a render artifact
        'secret.apply(lambda value: publish("leak.txt", value))',
    ],
)
def test_a_secret_that_escapes_is_an_error_never_a_render(tmp_path: Path, body: str) -> None:
    program = tmp_path / "__main__.py"
    program.write_text(LEAKY_PROGRAM.format(body=body), encoding="utf-8")
    engine = OfflineEngine(PROJECT_ROOT, program=program)
    with pytest.raises(SecretLeakError, match="dev-demo: a secret value reached"):
        engine.preview(StackRef("dev", "demo"))


def test_inputs_built_from_other_outputs_are_refused(tmp_path: Path) -> None:
    program = tmp_path / "__main__.py"
    program.write_text(
        LEAKY_PROGRAM.format(
            body='ns = k8s.core.v1.Namespace("ns", metadata={"name": "ns"})\n'
            'k8s.core.v1.ConfigMap("cm", metadata={"name": "cm"}, data={"uid": ns.metadata.uid})'
        ),
        encoding="utf-8",
    )
    with pytest.raises(EngineError, match="unknown offline"):
        OfflineEngine(PROJECT_ROOT, program=program).preview(StackRef("dev", "demo"))


def test_marked_secrets_render_as_placeholders(tmp_path: Path) -> None:
    program = tmp_path / "__main__.py"
    program.write_text(
        LEAKY_PROGRAM.format(
            body='k8s.core.v1.ConfigMap("ok", metadata={"name": "ok"}, data={"bind": secret})'
        ),
        encoding="utf-8",
    )
    result = OfflineEngine(PROJECT_ROOT, program=program).preview(StackRef("dev", "demo"))
    configmap = next(s for s in result.steps if s.name == "ok")
    assert configmap.inputs is not None and configmap.inputs["data"] == {"bind": "<secret>"}


def test_the_offline_engine_gives_the_thread_its_event_loop_back() -> None:
    import asyncio

    from ociam.engines.offline import _current_loop_state, _restore_loop_state

    before = _current_loop_state()
    mine = asyncio.new_event_loop()
    asyncio.set_event_loop(mine)
    try:
        OfflineEngine(PROJECT_ROOT).preview(StackRef("dev", "pori"))
        assert asyncio.get_event_loop() is mine
    finally:
        _restore_loop_state(before)
        mine.close()
