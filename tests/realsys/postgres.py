"""A real PostgreSQL standing in for CloudNativePG's read-write Service.

CloudNativePG (no operator runs here) would create, in the city namespace:
the Service ``<cluster>-rw`` in front of the primary, with a server
certificate for that name from its own CA; the Secret ``<cluster>-app``
(``username``, ``password``, ...) of the database owner; and the Secret
``<cluster>-ca`` whose ``ca.crt`` verifies the server. This stand-in does the
same with Debian's PostgreSQL server in a container: it answers under the
rendered host name (podman network aliases, as cluster DNS would), accepts
only TLS connections with SCRAM passwords, and hands the test the two Secrets,
so that the rendered ``KC_DB_URL_*`` and ``sslmode=verify-full`` settings are
used unchanged.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.realsys.pod_runner import TEST_LABEL, PodError, podman
from tests.realsys.tls import TestCA

#: uid/gid of ``postgres`` in the Debian image (tests/realsys/images.py)
POSTGRES_UID = 100
POSTGRES_GID = 102

_ENTRYPOINT = """\
set -eu
data=/var/lib/postgresql/data
if [ ! -s "$data/PG_VERSION" ]; then
    initdb --pgdata="$data" --username=postgres --auth-local=peer \
        --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    cat >"$data/pg_hba.conf" <<'EOF'
local     all  all                peer
hostssl   all  all  0.0.0.0/0     scram-sha-256
hostnossl all  all  0.0.0.0/0     reject
EOF
    postgres --single -D "$data" postgres >/dev/null <<EOF
CREATE ROLE "$OWNER" LOGIN PASSWORD '$OWNER_PASSWORD';
CREATE DATABASE "$DATABASE" OWNER "$OWNER";
EOF
fi
exec postgres -D "$data" -c listen_addresses='*' -c ssl=on \
    -c ssl_cert_file=/tls/tls.crt -c ssl_key_file=/tls/tls.key \
    -c ssl_min_protocol_version=TLSv1.3 -c password_encryption=scram-sha-256 \
    -c max_connections=200
"""


@dataclass
class PostgresStandIn:
    """One PostgreSQL server for one city: ``host`` as Keycloak's render names it."""

    cluster: str
    host: str
    namespace: str
    database: str
    owner: str
    image: str
    network: str
    work_dir: Path
    ca: TestCA

    def __post_init__(self) -> None:
        self.password = secrets.token_urlsafe(24)
        self.container = f"{self.namespace}-{self.cluster}"

    @property
    def aliases(self) -> list[str]:
        """The Service's DNS names, as a pod of the namespace may write them."""
        return [
            self.host,
            f"{self.host}.{self.namespace}",
            f"{self.host}.{self.namespace}.svc",
            f"{self.host}.{self.namespace}.svc.cluster.local",
        ]

    def secrets(self) -> dict[str, dict[str, str]]:
        """What CloudNativePG would put in the namespace for Keycloak to read."""
        return {
            f"{self.cluster}-app": {
                "username": self.owner,
                "password": self.password,
                "dbname": self.database,
                "host": self.host,
                "port": "5432",
            },
            f"{self.cluster}-ca": {"ca.crt": self.ca.certificate_pem},
        }

    def start(self, timeout: float = 120) -> None:
        tls = self.work_dir / "tls"
        data = self.work_dir / "data"
        for path in (tls, data):
            shutil.rmtree(path, ignore_errors=True)
            path.mkdir(parents=True)
        pair = self.ca.server(self.aliases)
        (tls / "tls.crt").write_text(pair.certificate_pem, encoding="utf-8")
        (tls / "tls.key").write_text(pair.key_pem, encoding="utf-8")
        for path in (tls, tls / "tls.crt", tls / "tls.key", data):
            path.chmod(0o700 if path.is_dir() else 0o600)
            shutil.chown(path, POSTGRES_UID, POSTGRES_GID)
        podman("rm", "--force", "--time", "0", self.container, check=False)
        network = f"{self.network}:" + ",".join(f"alias={a}" for a in self.aliases)
        podman(
            "run",
            "--detach",
            "--name",
            self.container,
            "--label",
            f"{TEST_LABEL}=postgresql",
            "--network",
            network,
            "--volume",
            f"{tls}:/tls:ro",
            "--volume",
            f"{data}:/var/lib/postgresql/data",
            "--env",
            f"OWNER={self.owner}",
            "--env",
            f"OWNER_PASSWORD={self.password}",
            "--env",
            f"DATABASE={self.database}",
            "--pull=never",
            "--entrypoint",
            '["/bin/sh", "-c"]',
            self.image,
            _ENTRYPOINT,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.sql("SELECT 1", check=False).strip() == "1":
                return
            time.sleep(0.5)
        logs = podman("logs", self.container, check=False)
        raise PodError(f"PostgreSQL stand-in {self.container} did not start: {logs[-2000:]}")

    def sql(self, statement: str, *, check: bool = True) -> str:
        """Run ``statement`` in the city database as the server's superuser (peer auth)."""
        result = subprocess.run(
            [
                "podman",
                "exec",
                self.container,
                "psql",
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                self.database,
                "-c",
                statement,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        if check and result.returncode != 0:
            raise PodError(f"psql {statement!r}: {result.stderr.strip()}")
        return result.stdout

    def stop(self) -> None:
        podman("rm", "--force", "--time", "5", self.container, check=False)
