"""The city's Secrets: generated ones (pulumi-random) and those from Pulumi secret config.

Nothing here ever holds a value in clear: generated values are secret outputs
of ``RandomPassword``, catalog references are read by the program with
``pulumi.Config("ociam").require_secret(key)``, and pulumi-kubernetes marks a
Secret's ``stringData`` secret as a whole.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from ociam.components.base import CityContext, child_name, kube

#: the bootstrap (break-glass) admin of the master realm and its service client
BOOTSTRAP_SECRET = "keycloak-bootstrap-admin"
BOOTSTRAP_USERNAME = "bootstrap-admin"
BOOTSTRAP_CLIENT_ID = "ociam-bootstrap"
#: keys of the bootstrap Secret
BOOTSTRAP_KEYS = ("username", "password", "client-id", "client-secret")
#: credentials of an external database (mode external)
EXTERNAL_DB_SECRET = "keycloak-db-external"


def _secret(value: pulumi.Output[str]) -> pulumi.Output[str]:
    """Mark a generated value secret (mocks do not apply additional_secret_outputs)."""
    marked: pulumi.Output[str] = pulumi.Output.secret(value)
    return marked


@dataclass(frozen=True)
class SecretNames:
    """What other components read: Secret names and their keys."""

    bootstrap: str
    backup: str | None
    external_db: str | None


class CitySecrets(pulumi.ComponentResource):
    """Bootstrap admin credentials (generated), backup and external database credentials
    (from Pulumi secret config). The realm configuration's secrets live in RealmConfig's
    own Secret, next to the Jobs that read them."""

    names: SecretNames

    def __init__(
        self,
        name: str,
        city: CityContext,
        config_secrets: Mapping[str, pulumi.Output[str]],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ociam:secrets:CitySecrets", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        password = random.RandomPassword(
            child_name(name, "admin-password"), length=40, special=False, opts=child
        )
        client_secret = random.RandomPassword(
            child_name(name, "admin-client-secret"), length=48, special=False, opts=child
        )
        kube(
            k8s.core.v1.Secret,
            child_name(name, "bootstrap"),
            metadata=city.metadata(BOOTSTRAP_SECRET, "keycloak", "server"),
            type="Opaque",
            string_data={
                "username": BOOTSTRAP_USERNAME,
                "password": _secret(password.result),
                "client-id": BOOTSTRAP_CLIENT_ID,
                "client-secret": _secret(client_secret.result),
            },
            opts=child,
        )

        store = city.config.settings.backup.object_store
        backup = None
        if (
            city.config.spec.database.mode == "cloudnativepg"
            and store.access_key_id is not None
            and store.secret_access_key is not None
        ):
            backup = store.credentials_secret
            kube(
                k8s.core.v1.Secret,
                child_name(name, "backup"),
                metadata=city.metadata(backup, "postgresql", "backup"),
                type="Opaque",
                string_data={
                    "ACCESS_KEY_ID": config_secrets[store.access_key_id.pulumi_secret],
                    "ACCESS_SECRET_KEY": config_secrets[store.secret_access_key.pulumi_secret],
                },
                opts=child,
            )

        external = city.config.spec.database.external
        external_db = None
        if external is not None:
            external_db = EXTERNAL_DB_SECRET
            kube(
                k8s.core.v1.Secret,
                child_name(name, "external-db"),
                metadata=city.metadata(EXTERNAL_DB_SECRET, "keycloak", "database"),
                type="Opaque",
                string_data={
                    "username": external.username,
                    "password": config_secrets[external.password.pulumi_secret],
                },
                opts=child,
            )

        self.names = SecretNames(
            bootstrap=BOOTSTRAP_SECRET,
            backup=backup,
            external_db=external_db,
        )
        self.register_outputs(
            {
                "bootstrap_secret": BOOTSTRAP_SECRET,
            }
        )
