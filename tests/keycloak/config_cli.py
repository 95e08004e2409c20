"""What keycloak-config-cli does to our files, where no keycloak-config-cli can run.

keycloak-config-cli is published only as GitHub release jars and images
(../shared/notes/keycloak-config-cli.md), so the tests reproduce the two parts
of its behaviour our files depend on, each from its source:

- **reading an import file**: textual ``$(env:NAME)`` substitution, then
  SnakeYAML (``provider/KeycloakImportProvider``), run for real with the same
  libraries from Maven Central (java/ConfigCliSubstitution.java);
- **its extensions that Keycloak's own import does not know**: ``userProfile``
  becomes a PUT of the user profile configuration, only when the realm
  attribute ``userProfileEnabled`` is set (``service/UserProfileImportService``
  and ``repository/UserProfileRepository``);

and the rule its image tags follow (:func:`published_tag_problems`).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.realsys.maven import Artifact, fetch, require_cached

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[1]
HARNESS = HERE / "java" / "ConfigCliSubstitution.java"
RELEASES_FILE = HERE / "data" / "keycloak-config-cli-releases.toml"
#: keycloak-config-cli's realm keys that Keycloak's RealmRepresentation does not have
EXTENSION_KEYS = ("userProfile", "messageBundles", "workflows")
USER_PROFILE_ENABLED = "userProfileEnabled"


def substitution_artifacts() -> list[Artifact]:
    with (PROJECT_ROOT / "tools" / "toolchain.toml").open("rb") as handle:
        pins = tomllib.load(handle)["config_cli_substitution"]
    return [
        Artifact("org.apache.commons", "commons-text", pins["commons_text"]),
        Artifact("org.apache.commons", "commons-lang3", pins["commons_lang3"]),
        Artifact("org.yaml", "snakeyaml", pins["snakeyaml"]),
    ]


def fetch_substitution_jars() -> list[Path]:
    """For .ci/bootstrap: download (once) the libraries the harness runs with."""
    paths = []
    for artifact in substitution_artifacts():
        path = fetch(artifact)
        if path is None:
            raise RuntimeError(f"Maven Central does not serve {artifact.path}")
        paths.append(path)
    return paths


class SubstitutionError(AssertionError):
    """keycloak-config-cli would refuse the file; the message is its reason."""


def read_like_config_cli(files: Mapping[str, str], env: Mapping[str, str]) -> dict[str, Any]:
    """Each file as keycloak-config-cli reads it with ``env`` as its environment.

    Returns the (single) YAML document of each file; raises SubstitutionError
    naming the file and keycloak-config-cli's reason when one cannot be read."""
    classpath = os.pathsep.join(str(require_cached(a)) for a in substitution_artifacts())
    with tempfile.TemporaryDirectory(prefix="ociam-config-cli-") as directory:
        paths = []
        for name, text in files.items():
            path = Path(directory) / name
            path.write_text(text, encoding="utf-8")
            paths.append(str(path))
        result = subprocess.run(
            ["java", "-cp", classpath, str(HARNESS), *paths],
            capture_output=True,
            text=True,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **env},
            check=False,
            timeout=300,
        )
    documents: dict[str, Any] = {}
    errors = []
    for line in result.stdout.splitlines():
        record = json.loads(line)
        if "error" in record:
            errors.append(f"{record['file']}: {record['error']}")
        else:
            (documents[record["file"]],) = record["documents"]
    if errors or result.returncode != 0 or len(documents) != len(files):
        raise SubstitutionError("; ".join(errors) or result.stderr[-3000:])
    return documents


@dataclass(frozen=True)
class ConvertedRealm:
    """A realm file split into what Keycloak's import takes and what config-cli adds."""

    realm: dict[str, Any]
    #: the body of PUT /admin/realms/<realm>/users/profile, or None: leave the profile alone
    user_profile: dict[str, Any] | None
    #: extension keys that keycloak-config-cli itself would skip (so would every import)
    ignored: list[str]


def convert_extensions(document: Mapping[str, Any]) -> ConvertedRealm:
    """keycloak-config-cli's treatment of its realm extensions, as its source has it.

    ``UserProfileImportService.doImport``: without the realm attribute
    ``userProfileEnabled`` the ``userProfile`` key is skipped entirely; with
    ``"true"`` it is PUT as the user profile configuration (UPConfig); with
    ``"false"`` the configuration is reset (PUT of nothing). ``messageBundles``
    and ``workflows`` have their own import services; our files use neither, and
    this conversion refuses them rather than pretending to apply them."""
    realm = {k: v for k, v in document.items() if k not in EXTENSION_KEYS}
    ignored: list[str] = []
    user_profile = None
    unsupported = [k for k in ("messageBundles", "workflows") if k in document]
    if unsupported:
        raise NotImplementedError(f"no conversion for keycloak-config-cli keys {unsupported}")
    if "userProfile" in document:
        enabled = (document.get("attributes") or {}).get(USER_PROFILE_ENABLED)
        if enabled is None:
            ignored.append("userProfile")
        elif str(enabled).lower() == "true":
            user_profile = dict(document["userProfile"])
        else:
            user_profile = {}
    return ConvertedRealm(realm, user_profile, ignored)


# --- published image tags ----------------------------------------------------------

TAG = re.compile(r"^(?P<release>\d+\.\d+\.\d+)-(?P<keycloak>\d+\.\d+\.\d+)$")


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split("."))


def published_releases() -> dict[str, list[str]]:
    """Release -> the Keycloak versions it was built for (see the data file's sources)."""
    with RELEASES_FILE.open("rb") as handle:
        data = tomllib.load(handle)
    return {release: list(entry["keycloak"]) for release, entry in data["releases"].items()}


def published_tag_problems(tag: str, server_version: str) -> list[str]:
    """Why ``tag`` is not a published keycloak-config-cli image for ``server_version``.

    The project publishes ``<release>-<keycloak>`` for every published release and
    every Keycloak version of that release's build (its ``keycloak-config-cli-<keycloak>.jar``
    assets): no SNAPSHOT, no unreleased version, no Keycloak version the release was
    not built for. The Keycloak part must also be the server's major and not newer
    than the server (the client library talks to the server's admin API)."""
    match = TAG.match(tag)
    if match is None:
        return [f"'{tag}' is not <release>-<keycloak version> (e.g. 6.5.0-26.5.4)"]
    release, keycloak = match["release"], match["keycloak"]
    releases = published_releases()
    if release not in releases:
        return [f"keycloak-config-cli {release} is not a published release ({', '.join(releases)})"]
    problems = []
    if keycloak not in releases[release]:
        problems.append(
            f"release {release} was built for Keycloak {', '.join(releases[release])}, "
            f"not {keycloak}"
        )
    if _key(keycloak)[0] != _key(server_version)[0]:
        problems.append(f"Keycloak {keycloak} is not the server's major ({server_version})")
    elif _key(keycloak) > _key(server_version):
        problems.append(f"Keycloak {keycloak} is newer than the server ({server_version})")
    return problems
