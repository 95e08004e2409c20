"""Build the Keycloak and PostgreSQL test images locally (no registry is reachable).

Built by ``python -m tests.realsys.prepare`` (.ci/bootstrap).

**Keycloak** (``localhost/ociam-keycloak:<version>``): the upstream image's
layout, rebuilt from what this machine reaches. Upstream
(keycloak/keycloak ``quarkus/container/Containerfile``, 26.x) is a ubi9-micro
with ``java-21-openjdk-headless``, ``glibc-langpack-en`` and ``findutils``;
``/opt/keycloak`` from the release archive, owned ``1000:0`` with ``g+rwX``
and an empty ``data/``; ``keycloak:x:1000:0`` in /etc/passwd and group
``keycloak:x:0:root``; ``LANG=en_US.UTF-8``; ``KC_RUN_IN_CONTAINER=true``;
``USER 1000``; ports 8080, 8443, 9000; entrypoint ``/opt/keycloak/bin/kc.sh``.
Here: Debian (tools/toolchain.toml) with its OpenJDK 21, and ``/opt/keycloak``
from Maven Central's ``org.keycloak:keycloak-quarkus-dist`` zip (checksum
verified) at the version the catalog pins. If Maven Central does not serve
that exact version, the nearest served patch release of the same minor is
used and the image's labels say so (``ociam.keycloak.version`` next to
``ociam.keycloak.pinned``).

**PostgreSQL** (``localhost/ociam-postgresql:<major>``): Debian's server
package, standing in for CloudNativePG's instance image. The test fixture
starts it with TLS under the rendered database host name.

Both are cached: the label ``ociam.inputs`` holds a hash of this module, the
pins and (Keycloak) the archive's checksum; a matching image is kept. The
downloaded archives live in ``$OCIAM_CACHE_DIR`` (default ``~/.cache/ociam``).
Needs root (debootstrap, chroot, rootful podman).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.realsys.maven import Artifact, fetch, served_versions
from tests.realsys.rootfs import (
    BuildError,
    apt_mirrors,
    chroot,
    debootstrap,
    image_label,
    podman_import,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TOOLCHAIN_FILE = PROJECT_ROOT / "tools" / "toolchain.toml"
KEYCLOAK_IMAGE = "localhost/ociam-keycloak"
POSTGRESQL_IMAGE = "localhost/ociam-postgresql"
#: uid/gid the upstream image runs as (``USER 1000``, group root)
KEYCLOAK_UID = 1000
INPUTS_LABEL = "ociam.inputs"
VERSION_LABEL = "ociam.keycloak.version"
PINNED_LABEL = "ociam.keycloak.pinned"


def toolchain() -> dict[str, dict[str, str]]:
    with TOOLCHAIN_FILE.open("rb") as handle:
        data: dict[str, dict[str, str]] = tomllib.load(handle)
    return data


def log(message: str) -> None:
    print(f"images: {message}", file=sys.stderr, flush=True)


# --- which Keycloak -------------------------------------------------------------


@dataclass(frozen=True)
class KeycloakDist:
    """The distribution an image is built from, and the version the catalog pinned."""

    pinned: str
    version: str
    archive: Path
    sha512: str

    @property
    def tag(self) -> str:
        return f"{KEYCLOAK_IMAGE}:{self.version}"

    @property
    def substituted(self) -> bool:
        return self.pinned != self.version


def pinned_keycloak_versions(root: Path = PROJECT_ROOT) -> list[str]:
    """Every Keycloak tag the catalog pins (environment defaults and city overrides)."""
    from ociam.catalog import ENVIRONMENTS, load_environment

    versions = {
        city.settings.images.keycloak.tag
        for env in ENVIRONMENTS
        for city in load_environment(root, env).cities.values()
    }
    return sorted(versions)


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def nearest_patch(pinned: str, served: Iterable[str]) -> str | None:
    """The served release of ``pinned``'s major.minor closest to its patch (ties: newer)."""
    major_minor = _version_key(pinned)[:2]
    patch = _version_key(pinned)[2]
    candidates = [
        v
        for v in served
        if re.fullmatch(r"\d+\.\d+\.\d+", v) and _version_key(v)[:2] == major_minor
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda v: (abs(_version_key(v)[2] - patch), -_version_key(v)[2]))


def keycloak_dist(pinned: str) -> KeycloakDist:
    """Download (once) and verify the dist zip of ``pinned`` or its nearest served patch."""

    def artifact(version: str) -> Artifact:
        return Artifact("org.keycloak", "keycloak-quarkus-dist", version, "zip")

    version = pinned
    archive = fetch(artifact(pinned))
    if archive is None:
        served = served_versions("org.keycloak", "keycloak-quarkus-dist")
        nearest = nearest_patch(pinned, served)
        if nearest is None:
            raise BuildError(
                f"Maven Central serves neither keycloak-quarkus-dist {pinned} nor another "
                f"patch release of its minor (served: {', '.join(served[-12:]) or 'none'})"
            )
        log(f"keycloak-quarkus-dist {pinned} is not served; using {nearest}, the nearest patch")
        version = nearest
        archive = fetch(artifact(nearest))
        if archive is None:
            raise BuildError(f"keycloak-quarkus-dist {nearest} is listed but not served")
    digest = hashlib.sha512(archive.read_bytes()).hexdigest()
    return KeycloakDist(pinned=pinned, version=version, archive=archive, sha512=digest)


# --- building ----------------------------------------------------------------


def inputs_hash(*parts: object) -> str:
    """What an image is built from: this module (the recipes) and ``parts`` (pins)."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(repr(parts).encode())
    return digest.hexdigest()[:16]


def _work_dir() -> Path:
    return Path(tempfile.mkdtemp(prefix="ociam-image-", dir=os.environ.get("TMPDIR", "/var/tmp")))


def _unpack_keycloak(dist: KeycloakDist, rootfs: Path) -> None:
    target = rootfs / "opt" / "keycloak"
    staging = rootfs / "opt" / "keycloak-unpack"
    with zipfile.ZipFile(dist.archive) as archive:
        archive.extractall(staging)
    (unpacked,) = staging.iterdir()
    unpacked.rename(target)
    staging.rmdir()
    (target / "data").mkdir(exist_ok=True)
    # zip entries lose their mode bits except through external_attr: restore them
    with zipfile.ZipFile(dist.archive) as archive:
        for info in archive.infolist():
            mode = (info.external_attr >> 16) & 0o777
            if mode:
                path = target / Path(info.filename).relative_to(Path(info.filename).parts[0])
                path.chmod(mode)
    # upstream: COPY --chown=1000:0 and chmod -R g+rwX
    for path in [target, *target.rglob("*")]:
        os.lchown(path, KEYCLOAK_UID, 0)
        if not path.is_symlink():
            mode = path.stat().st_mode
            group = 0o070 if path.is_dir() or mode & 0o100 else 0o060
            path.chmod(mode | group)


def build_keycloak(dist: KeycloakDist, force: bool = False) -> str:
    settings = toolchain()["keycloak_image"]
    inputs = inputs_hash(settings, dist.version, dist.sha512)
    if not force and image_label(dist.tag, INPUTS_LABEL) == inputs:
        log(f"{dist.tag} is up to date (inputs {inputs})")
        return dist.tag
    log(f"building {dist.tag} (Keycloak {dist.version}, pinned {dist.pinned}, {inputs})")
    work = _work_dir()
    try:
        rootfs = work / "rootfs"
        debootstrap(
            settings["suite"],
            rootfs,
            [settings["jdk_package"], "locales", "findutils", "ca-certificates"],
            apt_mirrors(),
        )
        (rootfs / "etc/locale.gen").write_text("en_US.UTF-8 UTF-8\n", encoding="utf-8")
        chroot(rootfs, "locale-gen")
        with (rootfs / "etc/passwd").open("a", encoding="utf-8") as passwd:
            passwd.write(f"keycloak:x:{KEYCLOAK_UID}:0:keycloak user:/opt/keycloak:/sbin/nologin\n")
        with (rootfs / "etc/group").open("a", encoding="utf-8") as group:
            group.write("keycloak:x:0:root\n")
        _unpack_keycloak(dist, rootfs)
        podman_import(
            rootfs,
            dist.tag,
            [
                "ENV LANG=en_US.UTF-8",
                "ENV KC_RUN_IN_CONTAINER=true",
                f"USER {KEYCLOAK_UID}",
                "EXPOSE 8080",
                "EXPOSE 8443",
                "EXPOSE 9000",
                'ENTRYPOINT ["/opt/keycloak/bin/kc.sh"]',
                f"LABEL {INPUTS_LABEL}={inputs}",
                f"LABEL {VERSION_LABEL}={dist.version}",
                f"LABEL {PINNED_LABEL}={dist.pinned}",
                "LABEL ociam.stand-in=quay.io/keycloak/keycloak",
            ],
            f"ociam Keycloak {dist.version} test image (pinned {dist.pinned}, inputs {inputs})",
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"built {dist.tag}")
    return dist.tag


def postgresql_tag() -> str:
    package = toolchain()["postgresql_image"]["server_package"]
    return f"{POSTGRESQL_IMAGE}:{package.rsplit('-', 1)[-1]}"


def build_package_image(
    tag: str,
    inputs: str,
    *,
    suite: str,
    packages: Sequence[str],
    empty_dirs: Sequence[str],
    changes: Sequence[str],
    description: str,
    force: bool = False,
) -> str:
    """An image of Debian ``packages`` (debootstrapped from this machine's mirror), its
    ``empty_dirs`` emptied (the packages' own data is not used), labelled with ``inputs``;
    kept when an image with the same inputs exists."""
    if not force and image_label(tag, INPUTS_LABEL) == inputs:
        log(f"{tag} is up to date (inputs {inputs})")
        return tag
    log(f"building {tag} ({', '.join(packages)}, {inputs})")
    work = _work_dir()
    try:
        rootfs = work / "rootfs"
        debootstrap(suite, rootfs, list(packages), apt_mirrors())
        for directory in empty_dirs:
            shutil.rmtree(rootfs / directory, ignore_errors=True)
            (rootfs / directory).mkdir()
        podman_import(
            rootfs,
            tag,
            [*changes, f"LABEL {INPUTS_LABEL}={inputs}"],
            f"{description} (inputs {inputs})",
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    log(f"built {tag}")
    return tag


def build_postgresql(force: bool = False) -> str:
    settings = toolchain()["postgresql_image"]
    major = settings["server_package"].rsplit("-", 1)[-1]
    return build_package_image(
        postgresql_tag(),
        inputs_hash(settings),
        suite=settings["suite"],
        packages=[settings["server_package"]],
        # the package's own cluster is not used: the fixture runs initdb in a volume
        empty_dirs=["var/lib/postgresql"],
        changes=[
            f"ENV PATH=/usr/lib/postgresql/{major}/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "ENV LANG=C.UTF-8",
            "USER postgres",
            "EXPOSE 5432",
            f"LABEL ociam.postgresql.major={major}",
        ],
        description=f"ociam PostgreSQL {major} test image",
        force=force,
    )


def keycloak_dists() -> list[KeycloakDist]:
    return [keycloak_dist(v) for v in pinned_keycloak_versions()]
