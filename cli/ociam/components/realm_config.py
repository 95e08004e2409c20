"""RealmConfig: the city's realm JSON applied in-cluster by keycloak-config-cli Jobs.

Two Jobs, each named after the hash of what it applies, so a change re-runs it
and nothing else does:

- ``<name>-bootstrap-<hash>`` logs in with Keycloak's bootstrap service account
  (the city stack's bootstrap Secret) and creates only the realm shells and the
  least-privilege client ``ociam-realm-config`` in master. It deletes nothing.
- ``<name>-apply-<hash>`` logs in as ``ociam-realm-config`` (client_credentials)
  and applies the realm files.

The realm files sit in immutable ConfigMaps; secrets reach keycloak-config-cli
only as environment variables from a Secret (``$(env:NAME)`` substitution).
NetworkPolicies let the Job pods reach Keycloak's HTTP port and DNS, nothing
else, and let Keycloak accept them. See docs/realms.md.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from ociam.catalog import CityConfig
from ociam.components.artifacts import publish
from ociam.realms import CityRealms, RealmFile, build_realms
from ociam.realms.config_client import CONFIG_CLIENT_ID
from ociam.realms.placeholders import CONFIG_CLIENT_SECRET_ENV, substitution_safe

TYPE = "ociam:realms:RealmConfig"
APP_NAME = "keycloak-config-cli"
COMPONENT = "realm-config"
CONFIG_MOUNT = "/config"
HASH_LENGTH = 10

#: ownership: what a run may delete (docs/realms.md, "What the Job owns").
#: NO_DELETE wherever Keycloak or people create objects of the same kind:
#: LDAP-synced groups, the LDAP component itself (deleting it deletes every
#: user it imported), key providers, built-in client scopes and scope mappings
#: (keycloak-config-cli's remote state does not protect those, issue #1012).
MANAGED_APPLY: dict[str, str] = {
    "IMPORT_MANAGED_AUTHENTICATIONFLOW": "full",
    "IMPORT_MANAGED_CLIENT": "full",
    "IMPORT_MANAGED_CLIENTSCOPE": "no-delete",
    "IMPORT_MANAGED_CLIENTSCOPEMAPPING": "no-delete",
    "IMPORT_MANAGED_COMPONENT": "no-delete",
    "IMPORT_MANAGED_GROUP": "no-delete",
    "IMPORT_MANAGED_IDENTITYPROVIDER": "full",
    "IMPORT_MANAGED_IDENTITYPROVIDERMAPPER": "full",
    "IMPORT_MANAGED_REQUIREDACTION": "no-delete",
    "IMPORT_MANAGED_ROLE": "full",
    "IMPORT_MANAGED_SCOPEMAPPING": "no-delete",
    "IMPORT_MANAGED_SUBCOMPONENT": "full",
}
#: the bootstrap run touches master: it must never delete anything there
MANAGED_BOOTSTRAP: dict[str, str] = dict.fromkeys(MANAGED_APPLY, "no-delete")


@dataclass(frozen=True)
class KeycloakEndpoint:
    """How the Jobs reach Keycloak inside the namespace (from the city stack)."""

    service: str
    port: int = 8080
    target_port: int = 8080
    pod_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BootstrapCredentials:
    """The city stack's Secret holding Keycloak's bootstrap service account."""

    secret_name: str
    client_id_key: str = "client-id"
    client_secret_key: str = "client-secret"


@dataclass(frozen=True)
class JobSettings:
    image: str
    ttl_seconds: int = 86400
    backoff_limit: int = 6
    active_deadline_seconds: int = 1800
    cpu_request: str = "100m"
    memory_request: str = "384Mi"
    cpu_limit: str = "1"
    memory_limit: str = "512Mi"
    run_as_user: int = 10001


def content_hash(files: Sequence[RealmFile], *extra: object) -> str:
    """Hash of the files' canonical text and the Job's other inputs (never secret values)."""
    digest = hashlib.sha256()
    for item in files:
        digest.update(item.filename.encode() + b"\0" + item.text.encode() + b"\0")
    digest.update(json.dumps(extra, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:HASH_LENGTH]


def _env(name: str, value: str) -> k8s.core.v1.EnvVarArgs:
    return k8s.core.v1.EnvVarArgs(name=name, value=value)


def _secret_env(name: str, secret: pulumi.Input[str], key: str) -> k8s.core.v1.EnvVarArgs:
    return k8s.core.v1.EnvVarArgs(
        name=name,
        value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret, key=key, optional=False)
        ),
    )


class RealmConfig(pulumi.ComponentResource):
    """Realm JSON in ConfigMaps, applied by hashed keycloak-config-cli Jobs."""

    realms: CityRealms
    apply_job_name: str
    bootstrap_job_name: str
    env_secret_name: str

    def __init__(
        self,
        name: str,
        *,
        city: CityConfig,
        namespace: str,
        keycloak: KeycloakEndpoint,
        bootstrap: BootstrapCredentials,
        labels: Mapping[str, str],
        pod_labels: Mapping[str, str] | None = None,
        secret_values: Mapping[str, pulumi.Output[str]] | None = None,
        job: JobSettings | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``secret_values`` maps Pulumi config keys to secret outputs; by default each is
        read with ``pulumi.Config("ociam").require_secret(key)``."""
        super().__init__(TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        if not keycloak.pod_labels:
            raise ValueError(
                "keycloak.pod_labels must select the Keycloak pods (empty selects all)"
            )
        self.realms = build_realms(city)
        for item in self.realms.realms:
            # ``ociam render`` writes them next to the manifests, so PRs show realm diffs
            publish(item.filename, item.text)
        settings = job or JobSettings(image=city.settings.images.keycloak_config_cli.reference)
        selector = {"app.kubernetes.io/name": APP_NAME, "app.kubernetes.io/component": COMPONENT}
        common = {**labels, **selector}
        url = f"http://{keycloak.service}.{namespace}.svc:{keycloak.port}"

        def meta(object_name: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(name=object_name, namespace=namespace, labels=common)

        # --- secrets: generated config client secret + catalog secrets, as env var keys
        # letters and digits only: the same value is substituted into the bootstrap file and
        # sent as the apply Job's credential, so it must read the same both ways
        client_secret = random.RandomPassword(
            f"{name}-client-secret", length=48, special=False, opts=child
        )
        config = pulumi.Config("ociam")
        values: dict[str, pulumi.Input[str]] = {
            CONFIG_CLIENT_SECRET_ENV: pulumi.Output.secret(client_secret.result)
        }
        for binding in self.realms.secrets:
            given = (secret_values or {}).get(binding.config_key)
            value: pulumi.Output[str] = (
                given if given is not None else config.require_secret(binding.config_key)
            )
            encoded: pulumi.Output[str] = pulumi.Output.secret(value.apply(substitution_safe))
            values[binding.env] = encoded
        env_secret_name = self.env_secret_name = f"{name}-env"
        k8s.core.v1.Secret(
            f"{name}-env",
            metadata=meta(env_secret_name),
            type="Opaque",
            string_data=values,
            opts=child,
        )

        sa_name = name
        k8s.core.v1.ServiceAccount(
            f"{name}-sa", metadata=meta(sa_name), automount_service_account_token=False, opts=child
        )

        def configmap(suffix: str, files: Sequence[RealmFile], digest: str) -> str:
            cm_name = f"{name}-{suffix}-{digest}"
            k8s.core.v1.ConfigMap(
                f"{name}-{suffix}-files",
                metadata=meta(cm_name),
                immutable=True,
                data={f.filename: f.text for f in files},
                opts=child,
            )
            return cm_name

        def job_resource(
            suffix: str,
            files: Sequence[RealmFile],
            env: list[k8s.core.v1.EnvVarArgs],
            digest: str,
            depends_on: Sequence[pulumi.Resource] = (),
        ) -> tuple[k8s.batch.v1.Job, str]:
            cm_name = configmap(suffix, files, digest)
            job_name = f"{name}-{suffix}-{digest}"
            files_env = _env(
                "IMPORT_FILES_LOCATIONS", ",".join(f"{CONFIG_MOUNT}/{f.filename}" for f in files)
            )
            pod_meta = k8s.meta.v1.ObjectMetaArgs(
                labels={**common, **(pod_labels or {}), "ociam.fi/realm-config-run": suffix}
            )
            container = k8s.core.v1.ContainerArgs(
                name=APP_NAME,
                image=settings.image,
                image_pull_policy="IfNotPresent",
                env=[files_env, *env],
                volume_mounts=[
                    k8s.core.v1.VolumeMountArgs(
                        name="realms", mount_path=CONFIG_MOUNT, read_only=True
                    ),
                    k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
                ],
                resources=k8s.core.v1.ResourceRequirementsArgs(
                    requests={"cpu": settings.cpu_request, "memory": settings.memory_request},
                    limits={"cpu": settings.cpu_limit, "memory": settings.memory_limit},
                ),
                security_context=k8s.core.v1.SecurityContextArgs(
                    allow_privilege_escalation=False,
                    read_only_root_filesystem=True,
                    run_as_non_root=True,
                    run_as_user=settings.run_as_user,
                    run_as_group=settings.run_as_user,
                    capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
                    seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
                ),
                termination_message_policy="FallbackToLogsOnError",
            )
            resource = k8s.batch.v1.Job(
                f"{name}-{suffix}",
                metadata=meta(job_name),
                spec=k8s.batch.v1.JobSpecArgs(
                    backoff_limit=settings.backoff_limit,
                    ttl_seconds_after_finished=settings.ttl_seconds,
                    active_deadline_seconds=settings.active_deadline_seconds,
                    template=k8s.core.v1.PodTemplateSpecArgs(
                        metadata=pod_meta,
                        spec=k8s.core.v1.PodSpecArgs(
                            restart_policy="Never",
                            service_account_name=sa_name,
                            automount_service_account_token=False,
                            enable_service_links=False,
                            security_context=k8s.core.v1.PodSecurityContextArgs(
                                run_as_non_root=True,
                                run_as_user=settings.run_as_user,
                                run_as_group=settings.run_as_user,
                                fs_group=settings.run_as_user,
                                seccomp_profile=k8s.core.v1.SeccompProfileArgs(
                                    type="RuntimeDefault"
                                ),
                            ),
                            containers=[container],
                            volumes=[
                                k8s.core.v1.VolumeArgs(
                                    name="realms",
                                    config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                        name=cm_name, default_mode=0o444
                                    ),
                                ),
                                k8s.core.v1.VolumeArgs(
                                    name="tmp",
                                    empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                                        size_limit="64Mi"
                                    ),
                                ),
                            ],
                        ),
                    ),
                ),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
            )
            return resource, job_name

        common_env = [
            _env("KEYCLOAK_URL", url),
            _env("KEYCLOAK_LOGINREALM", "master"),
            _env("KEYCLOAK_GRANTTYPE", "client_credentials"),
            _env("KEYCLOAK_AVAILABILITYCHECK_ENABLED", "true"),
            _env("KEYCLOAK_AVAILABILITYCHECK_TIMEOUT", "300s"),
            _env("IMPORT_VARSUBSTITUTION_ENABLED", "true"),
            _env("IMPORT_VALIDATE", "true"),
            # every run applies in full: a manual re-run after a secret rotation must not be
            # skipped because the file checksum is unchanged
            _env("IMPORT_CACHE_ENABLED", "false"),
            _env("IMPORT_REMOTESTATE_ENABLED", "true"),
            # trace on realm-config would log the substituted secrets
            _env("LOGGING_LEVEL_REALMCONFIG", "info"),
            _env("LOGGING_LEVEL_HTTP", "info"),
            _env("JAVA_TOOL_OPTIONS", "-XX:MaxRAMPercentage=70 -Djava.io.tmpdir=/tmp"),
        ]
        bootstrap_env = [
            *common_env,
            _secret_env("KEYCLOAK_CLIENTID", bootstrap.secret_name, bootstrap.client_id_key),
            _secret_env(
                "KEYCLOAK_CLIENTSECRET", bootstrap.secret_name, bootstrap.client_secret_key
            ),
            _secret_env(CONFIG_CLIENT_SECRET_ENV, env_secret_name, CONFIG_CLIENT_SECRET_ENV),
            *(_env(key, value) for key, value in sorted(MANAGED_BOOTSTRAP.items())),
        ]
        apply_env = [
            *common_env,
            _env("KEYCLOAK_CLIENTID", CONFIG_CLIENT_ID),
            _secret_env("KEYCLOAK_CLIENTSECRET", env_secret_name, CONFIG_CLIENT_SECRET_ENV),
            *(_secret_env(b.env, env_secret_name, b.env) for b in self.realms.secrets),
            *(_env(key, value) for key, value in sorted(MANAGED_APPLY.items())),
        ]
        pod_inputs = (settings, url, sorted(labels.items()), sorted((pod_labels or {}).items()))
        bootstrap_hash = content_hash(
            self.realms.bootstrap, pod_inputs, bootstrap, MANAGED_BOOTSTRAP
        )
        apply_hash = content_hash(
            self.realms.realms, pod_inputs, [b.env for b in self.realms.secrets], MANAGED_APPLY
        )
        bootstrap_job, self.bootstrap_job_name = job_resource(
            "bootstrap", self.realms.bootstrap, bootstrap_env, bootstrap_hash
        )
        _, self.apply_job_name = job_resource(
            "apply", self.realms.realms, apply_env, apply_hash, depends_on=[bootstrap_job]
        )

        # --- network: Job pods reach Keycloak's HTTP port and DNS only; Keycloak admits them
        dns = k8s.networking.v1.NetworkPolicyPeerArgs(
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                match_labels={"kubernetes.io/metadata.name": city.settings.cluster.dns_namespace}
            ),
            pod_selector=k8s.meta.v1.LabelSelectorArgs(
                match_labels=dict(city.settings.cluster.dns_pod_labels)
            ),
        )
        job_pods = k8s.meta.v1.LabelSelectorArgs(match_labels=selector)
        keycloak_pods = k8s.meta.v1.LabelSelectorArgs(match_labels=dict(keycloak.pod_labels))
        http = k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=keycloak.target_port)
        k8s.networking.v1.NetworkPolicy(
            f"{name}-job-egress",
            metadata=meta(f"{name}-job-egress"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=job_pods,
                policy_types=["Ingress", "Egress"],
                ingress=[],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=keycloak_pods)],
                        ports=[http],
                    ),
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[dns],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol="UDP", port=53),
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=53),
                        ],
                    ),
                ],
            ),
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-keycloak-ingress",
            metadata=meta(f"{name}-to-keycloak"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=keycloak_pods,
                policy_types=["Ingress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=job_pods)],
                        ports=[http],
                    )
                ],
            ),
            opts=child,
        )
        self.register_outputs(
            {
                "applyJob": self.apply_job_name,
                "bootstrapJob": self.bootstrap_job_name,
                "realms": list(self.realms.realm_names),
            }
        )
