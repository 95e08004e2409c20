"""PostgreSQL for Keycloak: a CloudNativePG Cluster with Barman Cloud plugin backups,
or the connection details of an external database."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from ociam.catalog import CityConfig
from ociam.components.base import CityContext, child_name, custom_resource

CLUSTER_NAME = "keycloak-db"
DATABASE = "keycloak"
OWNER = "keycloak"
OBJECT_STORE = f"{CLUSTER_NAME}-backup"
BARMAN_PLUGIN = "barman-cloud.cloudnative-pg.io"
#: label CloudNativePG puts on every pod of a cluster
CNPG_CLUSTER_LABEL = "cnpg.io/cluster"


def database_protected(config: CityConfig) -> bool:
    """Whether the city's database Cluster is protected (``pulumi.protect_databases``)."""
    configured = config.settings.pulumi.protect_databases
    return config.env != "dev" if configured is None else configured


@dataclass(frozen=True)
class DatabaseConnection:
    """How Keycloak reaches its database."""

    host: str
    port: int
    database: str
    #: Secret with keys ``username`` and ``password``
    credentials_secret: str
    #: JDBC URL properties (TLS settings)
    url_properties: str
    #: Secret holding the server CA as ``ca.crt`` (CloudNativePG), mounted for verify-full
    ca_secret: str | None
    #: labels of the database pods (NetworkPolicy), None when external
    pod_selector: dict[str, str] | None


def object_store_spec(city: CityContext) -> dict[str, object]:
    """The Barman Cloud ObjectStore: one folder per city below the environment's bucket."""
    backup = city.config.settings.backup
    store = backup.object_store
    if not store.destination_path.startswith("s3://"):
        raise ValueError(
            f"backup.object_store.destination_path {store.destination_path}: the city stack "
            "supports S3-compatible object stores (s3://) only"
        )
    configuration: dict[str, object] = {
        "destinationPath": f"{store.destination_path.rstrip('/')}/{city.config.slug}",
        "s3Credentials": {
            "accessKeyId": {"name": store.credentials_secret, "key": "ACCESS_KEY_ID"},
            "secretAccessKey": {"name": store.credentials_secret, "key": "ACCESS_SECRET_KEY"},
        },
        "wal": {"compression": "gzip", "maxParallel": 2},
        "data": {"compression": "gzip", "jobs": 2},
    }
    if store.endpoint_url:
        configuration["endpointURL"] = store.endpoint_url
    return {
        "retentionPolicy": backup.retention,
        "configuration": configuration,
        "instanceSidecarConfiguration": {
            "resources": {
                "requests": {"cpu": "100m", "memory": "128M"},
                "limits": {"cpu": "500m", "memory": "512M"},
            }
        },
    }


def cluster_spec(city: CityContext) -> dict[str, object]:
    size = city.profile
    image = city.config.settings.images.postgresql
    return {
        "instances": size.postgres_instances,
        "imageName": image.reference,
        "primaryUpdateStrategy": "unsupervised",
        "enableSuperuserAccess": False,
        "bootstrap": {"initdb": {"database": DATABASE, "owner": OWNER}},
        "storage": {"size": city.config.spec.database.storage_size},
        "resources": size.postgres.as_k8s(),
        "affinity": {
            "enablePodAntiAffinity": True,
            "topologyKey": "kubernetes.io/hostname",
            "podAntiAffinityType": "preferred",
        },
        "topologySpreadConstraints": [
            {
                "maxSkew": 1,
                "topologyKey": "topology.kubernetes.io/zone",
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": {CNPG_CLUSTER_LABEL: CLUSTER_NAME}},
            }
        ],
        "inheritedMetadata": {"labels": city.labels("postgresql", "database", image.tag)},
        "plugins": [
            {
                "name": BARMAN_PLUGIN,
                "isWALArchiver": True,
                "parameters": {"barmanObjectName": OBJECT_STORE},
            }
        ],
    }


class Database(pulumi.ComponentResource):
    """CloudNativePG ``Cluster`` + ``ScheduledBackup`` + Barman Cloud ``ObjectStore``
    (credentials by Secret reference), or nothing but connection details when external."""

    connection: DatabaseConnection

    def __init__(
        self,
        name: str,
        city: CityContext,
        opts: pulumi.ResourceOptions | None = None,
        *,
        external_secret: str | None = None,
    ) -> None:
        super().__init__("ociam:database:Database", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        database = city.config.spec.database
        if database.external is not None:
            ext = database.external
            if external_secret is None:
                raise ValueError("an external database needs its credentials Secret")
            self.connection = DatabaseConnection(
                host=ext.host,
                port=ext.port,
                database=ext.database,
                credentials_secret=external_secret,
                url_properties=f"?sslmode={ext.sslmode}"
                "&sslfactory=org.postgresql.ssl.DefaultJavaSSLFactory",
                ca_secret=None,
                pod_selector=None,
            )
        else:
            image_tag = city.config.settings.images.postgresql.tag
            store = custom_resource(
                child_name(name, "object-store"),
                api_version="barmancloud.cnpg.io/v1",
                kind="ObjectStore",
                metadata=city.metadata(OBJECT_STORE, "postgresql", "backup"),
                spec=object_store_spec(city),
                opts=child,
            )
            cluster = custom_resource(
                child_name(name, "cluster"),
                api_version="postgresql.cnpg.io/v1",
                kind="Cluster",
                metadata=city.metadata(CLUSTER_NAME, "postgresql", "database", version=image_tag),
                spec=cluster_spec(city),
                opts=pulumi.ResourceOptions(
                    parent=self, depends_on=[store], protect=database_protected(city.config)
                ),
            )
            custom_resource(
                child_name(name, "scheduled-backup"),
                api_version="postgresql.cnpg.io/v1",
                kind="ScheduledBackup",
                metadata=city.metadata(f"{CLUSTER_NAME}-daily", "postgresql", "backup"),
                spec={
                    "schedule": city.config.settings.backup.schedule,
                    "cluster": {"name": CLUSTER_NAME},
                    "method": "plugin",
                    "pluginConfiguration": {"name": BARMAN_PLUGIN},
                    "backupOwnerReference": "self",
                    "immediate": True,
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=[cluster]),
            )
            self.connection = DatabaseConnection(
                host=f"{CLUSTER_NAME}-rw",
                port=5432,
                database=DATABASE,
                credentials_secret=f"{CLUSTER_NAME}-app",
                url_properties="?sslmode=verify-full&sslrootcert=/opt/keycloak/db-ca/ca.crt",
                ca_secret=f"{CLUSTER_NAME}-ca",
                pod_selector={CNPG_CLUSTER_LABEL: CLUSTER_NAME},
            )
        self.register_outputs(
            {
                "host": self.connection.host,
                "port": self.connection.port,
                "database": self.connection.database,
                "credentials_secret": self.connection.credentials_secret,
            }
        )
