"""Debian root filesystems for locally built test images (no registry is reachable).

The mirror is the one this machine's apt uses (deb822 sources first, then
sources.list), never a hard-coded host, as tests/molecule/images/build-images.sh
does for the Molecule base images.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SOURCES_DIR = Path("/etc/apt/sources.list.d")
SOURCES_LIST = Path("/etc/apt/sources.list")
KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")


class BuildError(RuntimeError):
    """An image could not be built; the message says which step and why."""


@dataclass(frozen=True)
class Mirrors:
    archive: str
    security: str


def _uris_from_deb822(text: str) -> list[str]:
    uris: list[str] = []
    for line in text.splitlines():
        match = re.match(r"(?i)^uris:\s*(.+)$", line.strip())
        if match:
            uris.extend(match.group(1).split())
    return uris


def _uris_from_one_line(text: str) -> list[str]:
    uris = []
    for line in text.splitlines():
        fields = line.split()
        if not fields or fields[0] != "deb":
            continue
        rest = [f for f in fields[1:] if not (f.startswith("[") or f.endswith("]"))]
        if rest:
            uris.append(rest[0])
    return uris


def apt_mirrors(sources_dir: Path = SOURCES_DIR, sources_list: Path = SOURCES_LIST) -> Mirrors:
    """The archive and security mirrors this machine's apt is configured with."""
    uris: list[str] = []
    for path in sorted(sources_dir.glob("*.sources")) if sources_dir.is_dir() else []:
        uris += _uris_from_deb822(path.read_text(encoding="utf-8"))
    if not uris and sources_list.is_file():
        uris = _uris_from_one_line(sources_list.read_text(encoding="utf-8"))
    archive = next((u for u in uris if "security" not in u), None)
    if archive is None:
        raise BuildError(f"no apt mirror found in {sources_dir}/*.sources or {sources_list}")
    security = next((u for u in uris if "security" in u), archive.rstrip("/") + "-security")
    return Mirrors(archive.rstrip("/"), security.rstrip("/"))


def require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise BuildError(
            f"missing {', '.join(missing)}: install the packages in .ci/apt-packages.txt"
        )


def debootstrap(suite: str, target: Path, packages: Sequence[str], mirrors: Mirrors) -> None:
    """A minbase, merged-/usr Debian ``suite`` in ``target`` with ``packages``."""
    require_tools("debootstrap")
    log = target.with_suffix(".log")
    command = [
        "debootstrap",
        "--variant=minbase",
        "--merged-usr",
        f"--include={','.join(packages)}",
        f"--keyring={KEYRING}",
        suite,
        str(target),
        mirrors.archive,
    ]
    with log.open("w", encoding="utf-8") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        tail = "\n".join(log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:])
        raise BuildError(f"debootstrap {suite} into {target} failed:\n{tail}")
    log.unlink()
    # apt sources as a fresh install writes them; no package lists or .debs in the image
    (target / "etc/apt/sources.list").unlink(missing_ok=True)
    (target / "etc/apt/sources.list.d/debian.sources").write_text(
        f"Types: deb\nURIs: {mirrors.archive}\nSuites: {suite} {suite}-updates\n"
        f"Components: main\nSigned-By: {KEYRING}\n\n"
        f"Types: deb\nURIs: {mirrors.security}\nSuites: {suite}-security\n"
        f"Components: main\nSigned-By: {KEYRING}\n",
        encoding="utf-8",
    )
    for cache in (target / "var/lib/apt/lists", target / "var/cache/apt/archives"):
        for entry in cache.glob("*"):
            if entry.is_file():
                entry.unlink()
    (target / "etc/machine-id").write_text("", encoding="utf-8")


def chroot(target: Path, *command: str) -> None:
    result = subprocess.run(
        ["chroot", str(target), *command], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise BuildError(
            f"chroot {target} {' '.join(command)} failed ({result.returncode}): "
            f"{result.stderr.strip()[-2000:]}"
        )


def podman_import(target: Path, tag: str, changes: Sequence[str], message: str) -> None:
    """Load ``target`` as image ``tag`` (numeric owners and xattrs kept)."""
    require_tools("tar", "podman")
    tar = subprocess.Popen(
        ["tar", "--numeric-owner", "--xattrs", "-C", str(target), "-c", "."],
        stdout=subprocess.PIPE,
    )
    options = [arg for change in changes for arg in ("--change", change)]
    result = subprocess.run(
        ["podman", "import", *options, "--message", message, "-", tag],
        stdin=tar.stdout,
        capture_output=True,
        text=True,
        check=False,
    )
    if tar.stdout is not None:
        tar.stdout.close()
    if tar.wait() != 0 or result.returncode != 0:
        raise BuildError(f"podman import {tag} failed: {result.stderr.strip()[-2000:]}")


def image_label(tag: str, label: str) -> str | None:
    """A label of a local image, or None when the image does not exist."""
    result = subprocess.run(
        ["podman", "image", "inspect", "--format", f'{{{{ index .Labels "{label}" }}}}', tag],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        return None
    value = result.stdout.strip()
    return None if value in {"", "<no value>"} else value
