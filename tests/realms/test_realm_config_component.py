"""RealmConfig under pulumi.runtime.set_mocks: the inputs that matter, not just existence."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

import pulumi
import pytest

from ociam.catalog import CityConfig
from ociam.components.realm_config import (
    TYPE,
    BootstrapCredentials,
    KeycloakEndpoint,
    RealmConfig,
)
from ociam.realms.placeholders import substitution_safe
from tests.realms.realm_support import city

KEYCLOAK_LABELS = {"app.kubernetes.io/name": "keycloak", "app.kubernetes.io/component": "server"}
CANARY = "canary-Secret-Value-4711"


class Recorder(pulumi.runtime.Mocks):
    def __init__(self) -> None:
        self.resources: list[tuple[str, str, dict[str, Any]]] = []
        self.urns: list[str] = []

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.resources.append((args.typ, args.name, dict(args.inputs)))
        outputs = dict(args.inputs)
        if args.typ == "random:index/randomPassword:RandomPassword":
            outputs["result"] = "generated-" + args.name
        return f"{args.name}-id", outputs

    def call(
        self, args: pulumi.runtime.MockCallArgs
    ) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []

    def of(self, typ: str) -> list[dict[str, Any]]:
        return [inputs for t, _, inputs in self.resources if t == typ]


def render(
    config: CityConfig, secrets: Mapping[str, str] | None = None, *, from_config: bool = False
) -> Recorder:
    recorder = Recorder()
    pulumi.runtime.set_mocks(recorder, project="ociam-city", stack=config.stack_name, preview=False)
    values = {
        "ldapBindPassword": CANARY,
        "entraClientSecret": CANARY + "-entra",
        "intranetClientSecret": CANARY + "-intranet",
        **(secrets or {}),
    }
    if from_config:
        pulumi.runtime.set_all_config(
            {f"ociam:{k}": v for k, v in values.items()}, [f"ociam:{k}" for k in values]
        )

    @pulumi.runtime.test  # type: ignore[misc]
    def program() -> None:
        RealmConfig(
            "realm-config",
            city=config,
            namespace=config.namespace,
            keycloak=KeycloakEndpoint(service="keycloak-http", pod_labels=KEYCLOAK_LABELS),
            bootstrap=BootstrapCredentials(secret_name="keycloak-bootstrap-admin"),
            labels={"ociam.fi/city": config.slug, "ociam.fi/env": config.env},
            secret_values=None
            if from_config
            else {k: pulumi.Output.secret(v) for k, v in values.items()},
        )

    program()
    recorder.urns = list(pulumi.runtime.settings.get_monitor().resources)  # type: ignore[attr-defined]
    if from_config:
        pulumi.runtime.set_all_config({}, [])
    return recorder


def jobs(recorder: Recorder) -> dict[str, dict[str, Any]]:
    found = recorder.of("kubernetes:batch/v1:Job")
    return {j["metadata"]["name"].rsplit("-", 2)[-2]: j for j in found}


def names(recorder: Recorder) -> tuple[str, str]:
    by_kind = jobs(recorder)
    return by_kind["apply"]["metadata"]["name"], by_kind["bootstrap"]["metadata"]["name"]


def changed(config: CityConfig, **spec_update: Any) -> CityConfig:
    return dataclasses.replace(config, spec=config.spec.model_copy(update=spec_update))


@pytest.fixture(scope="module")
def demo() -> CityConfig:
    return city("dev", "demo")


@pytest.fixture(scope="module")
def rendered(demo: CityConfig) -> Recorder:
    return render(demo)


def test_component_shape_parents_and_names(rendered: Recorder) -> None:
    children = [u for u in rendered.urns if f"::{TYPE}$" in u]
    component = [u for u in rendered.urns if u.endswith("$ociam:realms:RealmConfig::realm-config")]
    assert len(component) == 1
    assert len(children) == len(rendered.resources) - 1 == 9
    # every child's URN carries the component type as its parent: parent=self everywhere
    assert all(u.split("::")[2].startswith(TYPE + "$") for u in children), children
    assert all(u.rsplit("::", 1)[1].startswith("realm-config-") for u in children)


def test_job_name_changes_when_the_realm_json_changes_and_only_then(demo: CityConfig) -> None:
    apply, bootstrap = names(render(demo))
    assert names(render(demo)) == (apply, bootstrap), "deterministic"
    assert apply.startswith("realm-config-apply-") and len(apply) <= 63

    # unrelated catalog changes: same Jobs
    unrelated = changed(demo, size_profile="ha", admin_allowlist=demo.spec.admin_allowlist[:1])
    assert names(render(unrelated)) == (apply, bootstrap)
    # other secret values: same Jobs (no secret fingerprint in any name)
    assert names(render(demo, {"ldapBindPassword": "rotated"})) == (apply, bootstrap)

    # a realm change: the apply Job is new, the bootstrap Job is not
    app = demo.spec.applications[0]
    moved = app.model_copy(update={"redirect_uris": ["https://intra2.demo.example/cb"]})
    new_apply, new_bootstrap = names(
        render(changed(demo, applications=[moved, *demo.spec.applications[1:]]))
    )
    assert new_apply != apply and new_bootstrap == bootstrap

    # a realm less: both change (the config client's roles change too)
    realms = demo.spec.realms.model_copy(update={"residents": None})
    apps = [a for a in demo.spec.applications if a.realm == "employees"]
    fewer_apply, fewer_bootstrap = names(render(changed(demo, realms=realms, applications=apps)))
    assert fewer_apply != apply and fewer_bootstrap != bootstrap


def test_configmaps_hold_the_realm_files_without_secret_values(rendered: Recorder) -> None:
    maps = {c["metadata"]["name"]: c for c in rendered.of("kubernetes:core/v1:ConfigMap")}
    apply_map = next(c for n, c in maps.items() if n.startswith("realm-config-apply-"))
    assert apply_map["immutable"] is True
    assert set(apply_map["data"]) == {"realm-employees.json", "realm-residents.json"}
    assert json.loads(apply_map["data"]["realm-employees.json"])["realm"] == "employees"
    for config_map in maps.values():
        text = json.dumps(config_map)
        assert CANARY not in text and "generated-" not in text


def _env(job: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = job["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


def test_apply_job_env_references_secrets_and_sets_ownership(rendered: Recorder) -> None:
    env = _env(jobs(rendered)["apply"])
    assert env["KEYCLOAK_GRANTTYPE"]["value"] == "client_credentials"
    assert env["KEYCLOAK_CLIENTID"]["value"] == "ociam-realm-config"
    assert env["KEYCLOAK_URL"]["value"] == "http://keycloak-http.iam-demo.svc:8080"
    for name in (
        "KEYCLOAK_CLIENTSECRET",
        "OCIAM_SECRET_LDAP_BIND_PASSWORD",
        "OCIAM_SECRET_ENTRA_CLIENT_SECRET",
        "OCIAM_SECRET_INTRANET_CLIENT_SECRET",
    ):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "realm-config-env", name
        assert "value" not in env[name]
    assert env["IMPORT_VARSUBSTITUTION_ENABLED"]["value"] == "true"
    assert env["IMPORT_MANAGED_GROUP"]["value"] == "no-delete"
    assert env["IMPORT_MANAGED_COMPONENT"]["value"] == "no-delete"
    assert env["IMPORT_MANAGED_CLIENTSCOPE"]["value"] == "no-delete"
    assert env["IMPORT_REMOTESTATE_ENABLED"]["value"] == "true"
    assert env["IMPORT_FILES_LOCATIONS"]["value"] == (
        "/config/realm-employees.json,/config/realm-residents.json"
    )
    assert all("value" not in e or CANARY not in e["value"] for e in env.values())


def test_bootstrap_job_uses_the_bootstrap_secret_and_deletes_nothing(rendered: Recorder) -> None:
    env = _env(jobs(rendered)["bootstrap"])
    for name, key in (
        ("KEYCLOAK_CLIENTID", "client-id"),
        ("KEYCLOAK_CLIENTSECRET", "client-secret"),
    ):
        assert env[name]["valueFrom"]["secretKeyRef"] == {
            "name": "keycloak-bootstrap-admin",
            "key": key,
            "optional": False,
        }
    managed = {k: v["value"] for k, v in env.items() if k.startswith("IMPORT_MANAGED_")}
    assert managed and set(managed.values()) == {"no-delete"}
    assert "OCIAM_SECRET_LDAP_BIND_PASSWORD" not in env


SECRET_SIG = "4dabf18193072939515e22adb298388d"  # Pulumi's marker of a secret value


def secret_data(recorder: Recorder) -> dict[str, str]:
    """The env Secret's stringData, which must arrive marked secret as a whole."""
    (secret,) = recorder.of("kubernetes:core/v1:Secret")
    assert secret["metadata"]["name"] == "realm-config-env"
    data = secret["stringData"]
    assert data[SECRET_SIG] == "1b47061264138c4ac30d75fd1eb44270", "stringData is not secret"
    return dict(data["value"])


def test_the_env_secret_is_built_from_secret_values(rendered: Recorder) -> None:
    data = secret_data(rendered)
    assert data["OCIAM_SECRET_LDAP_BIND_PASSWORD"] == CANARY
    assert data["OCIAM_CONFIG_CLIENT_SECRET"].startswith("generated-")
    assert set(data) == {
        "OCIAM_CONFIG_CLIENT_SECRET",
        "OCIAM_SECRET_ENTRA_CLIENT_SECRET",
        "OCIAM_SECRET_INTRANET_CLIENT_SECRET",
        "OCIAM_SECRET_LDAP_BIND_PASSWORD",
    }


def test_secrets_are_read_from_pulumi_secret_config_by_default(demo: CityConfig) -> None:
    data = secret_data(render(demo, from_config=True))
    assert data["OCIAM_SECRET_ENTRA_CLIENT_SECRET"] == CANARY + "-entra"


@pytest.mark.parametrize("kind", ["apply", "bootstrap"])
def test_jobs_pass_pod_security_restricted(rendered: Recorder, kind: str) -> None:
    job = jobs(rendered)[kind]
    spec = job["spec"]
    assert spec["backoffLimit"] > 0 and spec["ttlSecondsAfterFinished"] > 0
    assert spec["activeDeadlineSeconds"] > 0
    pod = spec["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["runAsNonRoot"] is True and context["runAsUser"] > 0
    resources = container["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"} == set(resources["limits"])
    assert container["image"] == "docker.io/adorsys/keycloak-config-cli:6.5.0-26.5.4"
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/config"]["readOnly"] is True and "/tmp" in mounts


def test_network_policies_allow_only_keycloak_and_dns(rendered: Recorder) -> None:
    policies = {
        p["metadata"]["name"]: p["spec"]
        for p in rendered.of("kubernetes:networking.k8s.io/v1:NetworkPolicy")
    }
    egress = policies["realm-config-job-egress"]
    assert egress["podSelector"]["matchLabels"]["app.kubernetes.io/component"] == "realm-config"
    assert sorted(egress["policyTypes"]) == ["Egress", "Ingress"]
    assert egress.get("ingress", []) == []
    to_keycloak, to_dns = egress["egress"]
    assert to_keycloak["to"] == [{"podSelector": {"matchLabels": KEYCLOAK_LABELS}}]
    assert to_keycloak["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert {p["port"] for p in to_dns["ports"]} == {53}
    assert to_dns["to"][0]["namespaceSelector"]["matchLabels"] == {
        "kubernetes.io/metadata.name": "kube-system"
    }
    ingress = policies["realm-config-to-keycloak"]
    assert ingress["podSelector"]["matchLabels"] == KEYCLOAK_LABELS
    assert ingress["ingress"][0]["from"] == [
        {"podSelector": {"matchLabels": egress["podSelector"]["matchLabels"]}}
    ]


def test_empty_keycloak_selector_is_refused(demo: CityConfig) -> None:
    pulumi.runtime.set_mocks(Recorder(), project="p", stack="s", preview=False)
    with pytest.raises(ValueError, match="pod_labels"):
        RealmConfig(
            "realm-config",
            city=demo,
            namespace=demo.namespace,
            keycloak=KeycloakEndpoint(service="keycloak-http"),
            bootstrap=BootstrapCredentials(secret_name="b"),
            labels={},
        )


def test_realm_secrets_are_stored_the_way_substitution_reads_them_back(demo: CityConfig) -> None:
    hostile = 'bind"pass\\word $(env:HOME) ä'
    data = secret_data(render(demo, {"ldapBindPassword": hostile}))
    stored = data["OCIAM_SECRET_LDAP_BIND_PASSWORD"]
    assert stored == substitution_safe(hostile) != hostile
    # the config client's generated secret is used verbatim as a credential too: not encoded
    assert data["OCIAM_CONFIG_CLIENT_SECRET"].startswith("generated-")
