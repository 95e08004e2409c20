"""Artifacts from Maven Central, cached by coordinates and verified by published checksum.

Used by .ci/bootstrap (through tests/realsys/images.py and
tests/keycloak/config_cli.py), never at test time: tests only read the cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from tests.realsys.rootfs import BuildError

DEFAULT_REPOSITORY = "https://repo.maven.apache.org/maven2"
#: strongest first; Maven Central always has .sha1, newer uploads also .sha512
CHECKSUMS = ("sha512", "sha1")


def cache_dir() -> Path:
    return Path(os.environ.get("OCIAM_CACHE_DIR", Path.home() / ".cache" / "ociam"))


def repository() -> str:
    return os.environ.get("OCIAM_MAVEN_REPOSITORY", DEFAULT_REPOSITORY).rstrip("/")


@dataclass(frozen=True)
class Artifact:
    group: str
    artifact: str
    version: str
    extension: str = "jar"

    @property
    def filename(self) -> str:
        return f"{self.artifact}-{self.version}.{self.extension}"

    @property
    def path(self) -> str:
        return f"{self.group.replace('.', '/')}/{self.artifact}/{self.version}/{self.filename}"

    @property
    def cached(self) -> Path:
        return cache_dir() / "maven" / self.path


def _get(url: str) -> bytes | None:
    """The body at ``url``; None when the repository does not serve it (404)."""
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            body: bytes = response.read()
            return body
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise BuildError(f"GET {url}: HTTP {error.code}") from error
    except (urllib.error.URLError, TimeoutError) as error:
        raise BuildError(f"GET {url}: {error}") from error


def _digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def served_versions(group: str, artifact: str) -> list[str]:
    """Versions the repository's metadata lists (may lag behind what it serves)."""
    body = _get(f"{repository()}/{group.replace('.', '/')}/{artifact}/maven-metadata.xml")
    if body is None:
        return []
    return [v.text or "" for v in ElementTree.fromstring(body).iter("version")]


def fetch(artifact: Artifact) -> Path | None:
    """The artifact in the cache, downloaded and verified once; None when not served."""
    url = f"{repository()}/{artifact.path}"
    expected = None
    algorithm = ""
    for algorithm in CHECKSUMS:
        body = _get(f"{url}.{algorithm}")
        if body is not None:
            expected = body.decode().split()[0].lower()
            break
    if expected is None:
        return None
    target = artifact.cached
    if target.is_file() and _digest(target, algorithm) == expected:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    print(f"maven: downloading {url}", flush=True)
    try:
        with urllib.request.urlopen(url, timeout=300) as response, partial.open("wb") as out:
            shutil.copyfileobj(response, out, length=1 << 20)
    except urllib.error.HTTPError as error:
        partial.unlink(missing_ok=True)
        if error.code == 404:
            return None
        raise BuildError(f"GET {url}: HTTP {error.code}") from error
    except (urllib.error.URLError, TimeoutError) as error:
        partial.unlink(missing_ok=True)
        raise BuildError(f"GET {url}: {error}") from error
    actual = _digest(partial, algorithm)
    if actual != expected:
        partial.unlink()
        raise BuildError(f"{url}: {algorithm} {actual} does not match the published {expected}")
    partial.replace(target)
    return target


def require_cached(artifact: Artifact) -> Path:
    """For tests: the cached artifact, or a failure that says how to get it."""
    if not artifact.cached.is_file():
        raise BuildError(
            f"{artifact.filename} is not in {artifact.cached.parent}: run .ci/bootstrap "
            "(it fetches the test tiers' artifacts from Maven Central once per machine)"
        )
    return artifact.cached
