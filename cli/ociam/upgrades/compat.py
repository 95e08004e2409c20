"""Keycloak's own answer to "may this version change roll, or must it recreate?":
``kc.sh update-compatibility metadata`` with the old distribution and the old server's
options, then ``kc.sh update-compatibility check`` with the new one and the new options.

Exit codes of ``check`` (Keycloak 26 server guide, "Checking if rolling updates are
possible"): 0 rolling update possible; 3 not possible, shut the deployment down before
the new one starts; 4 not possible, the ``rolling-updates`` feature is disabled; 1 an
unexpected error; 2 invalid options. Only the exit code is relied upon.

Distributions are the ``keycloak-quarkus-dist`` zips of Maven Central, found in
``OCIAM_KEYCLOAK_DIST_DIR`` (unpacked ``keycloak-<version>/`` directories or the zips)
or the test tiers' Maven cache (``~/.cache/ociam/maven``). Each run works on a private
copy (the commands re-augment the server). Java: ``OCIAM_JAVA_HOME``, ``JAVA_HOME`` or
the newest JDK under /usr/lib/jvm (Keycloak 26 needs 21 or newer). Results are cached
by versions and options.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

Decision = Literal["rolling", "recreate"]
EXIT_MEANING = {
    0: "rolling update possible",
    1: "unexpected error",
    2: "invalid options",
    3: "rolling update not possible: recreate",
    4: "rolling update not possible: the rolling-updates feature is disabled",
}
TIMEOUT_SECONDS = 600


def cache_dir(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("OCIAM_CACHE_DIR") or Path.home() / ".cache" / "ociam")


def distribution(version: str, environ: Mapping[str, str] | None = None) -> Path | None:
    """An unpacked ``keycloak-<version>`` directory, or None when none is available."""
    environ = os.environ if environ is None else environ
    places = [Path(p) for p in environ.get("OCIAM_KEYCLOAK_DIST_DIR", "").split(os.pathsep) if p]
    maven = cache_dir(environ) / "maven" / "org" / "keycloak" / "keycloak-quarkus-dist" / version
    places.append(maven)
    for place in places:
        unpacked = place / f"keycloak-{version}"
        if (unpacked / "bin" / "kc.sh").is_file():
            return unpacked
        archive = place / f"keycloak-quarkus-dist-{version}.zip"
        if archive.is_file():
            return _unpack(archive, version, environ)
    return None


def _unpack(archive: Path, version: str, environ: Mapping[str, str]) -> Path:
    target = cache_dir(environ) / "keycloak-dists" / version
    home = target / f"keycloak-{version}"
    if (home / "bin" / "kc.sh").is_file():
        return home
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="unpack-", dir=target))
    with zipfile.ZipFile(archive) as zipped:
        zipped.extractall(staging)
    for script in (staging / f"keycloak-{version}" / "bin").glob("*.sh"):
        script.chmod(0o755)
    with contextlib.suppress(OSError):  # another process unpacked it meanwhile
        (staging / f"keycloak-{version}").rename(home)
    shutil.rmtree(staging, ignore_errors=True)
    return home


def java_home(environ: Mapping[str, str] | None = None) -> Path | None:
    environ = os.environ if environ is None else environ
    for key in ("OCIAM_JAVA_HOME", "JAVA_HOME"):
        home = Path(environ[key]) if environ.get(key) else None
        if home is not None and (home / "bin" / "java").is_file() and _java_major(home) >= 21:
            return home
    candidates = [p for p in Path("/usr/lib/jvm").glob("*") if (p / "bin" / "java").is_file()]
    good = sorted((_java_major(p), str(p)) for p in candidates if not p.is_symlink())
    good = [g for g in good if g[0] >= 21]
    return Path(good[-1][1]) if good else None


def _java_major(home: Path) -> int:
    release = home / "release"
    if release.is_file():
        found = re.search(r'JAVA_VERSION="(\d+)', release.read_text(errors="replace"))
        if found:
            return int(found.group(1))
    found = re.search(r"(\d+)", home.name.replace("1.", "", 1))
    return int(found.group(1)) if found else 0


@dataclass(frozen=True)
class CompatResult:
    old: str
    new: str
    #: None when the check could not run (no distribution, no Java)
    exit_code: int | None
    decision: Decision
    #: Keycloak's own verdict line(s), or why the check did not run
    said: str

    @property
    def ran(self) -> bool:
        return self.exit_code is not None

    def line(self) -> str:
        if not self.ran:
            return (
                f"update-compatibility not run for Keycloak {self.old} -> {self.new}: "
                f"{self.said}; rolling out as a recreate (the safe choice)"
            )
        meaning = EXIT_MEANING.get(self.exit_code or 0, "unknown exit code")
        return (
            f"kc.sh update-compatibility {self.old} -> {self.new}: exit {self.exit_code} "
            f"({meaning}): {self.said}"
        )


def _verdict(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if "Rolling Update" in line]
    if lines:
        return " ".join(lines)[:400]
    tail = [line.strip() for line in output.splitlines() if line.strip()]
    return (tail[-1] if tail else "no output")[:400]


def _run(home: Path, java: Path, args: Sequence[str], scratch: Path) -> tuple[int, str]:
    copy = scratch / home.name
    if not copy.exists():
        shutil.copytree(home, copy, symlinks=True)
    env = {
        "PATH": f"{java / 'bin'}:/usr/bin:/bin",
        "JAVA_HOME": str(java),
        "HOME": str(scratch),
        "LANG": "C.UTF-8",
    }
    done = subprocess.run(
        [str(copy / "bin" / "kc.sh"), "update-compatibility", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def check_versions(
    old: str,
    old_options: Sequence[str],
    new: str,
    new_options: Sequence[str],
    environ: Mapping[str, str] | None = None,
    *,
    use_cache: bool = True,
) -> CompatResult:
    """Keycloak's decision for ``old`` -> ``new`` (both with the options their servers
    run with: build options and cache settings), cached unless ``use_cache`` is off."""
    environ = os.environ if environ is None else environ
    key = hashlib.sha256(
        json.dumps([old, list(old_options), new, list(new_options)]).encode()
    ).hexdigest()[:24]
    cached = cache_dir(environ) / "update-compatibility" / f"{key}.json"
    if use_cache and cached.is_file():
        try:
            return CompatResult(**json.loads(cached.read_text(encoding="utf-8")))
        except (ValueError, TypeError):
            pass
    missing = [v for v in dict.fromkeys((old, new)) if distribution(v, environ) is None]
    if missing:
        return CompatResult(
            old,
            new,
            None,
            "recreate",
            "no Keycloak distribution for "
            + ", ".join(missing)
            + " (put keycloak-quarkus-dist zips in a directory of OCIAM_KEYCLOAK_DIST_DIR)",
        )
    java = java_home(environ)
    if java is None:
        return CompatResult(old, new, None, "recreate", "no Java 21 or newer (OCIAM_JAVA_HOME)")
    old_home, new_home = distribution(old, environ), distribution(new, environ)
    assert old_home is not None and new_home is not None
    with tempfile.TemporaryDirectory(prefix="ociam-kc-compat-") as scratch_dir:
        scratch = Path(scratch_dir)
        metadata = scratch / "metadata.json"
        code, output = _run(
            old_home, java, ["metadata", f"--file={metadata}", *old_options], scratch / "old"
        )
        if code != 0 or not metadata.is_file():
            why = f"metadata with {old} failed (exit {code}): {_verdict(output)}"
            return CompatResult(old, new, None, "recreate", why)
        code, output = _run(
            new_home, java, ["check", f"--file={metadata}", *new_options], scratch / "new"
        )
    result = CompatResult(old, new, code, "rolling" if code == 0 else "recreate", _verdict(output))
    if code in EXIT_MEANING and code not in {1, 2}:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(asdict(result)), encoding="utf-8")
    return result
