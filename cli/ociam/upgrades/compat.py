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
copy (the commands re-augment the server). Java (Keycloak 26 needs 21 or newer), the
first of: ``OCIAM_JAVA_HOME``; ``OCIAM_JAVA_IMAGE``, a container image with a JDK 21+
(``java`` on its PATH) in which ``kc.sh`` runs under podman without a network (the test
tiers use the Keycloak test image, tools/toolchain.toml ``[keycloak_image]``); ``JAVA_HOME``;
the newest JDK 21+ under /usr/lib/jvm. Without one the check does not run and the
rollout is a recreate, said in one line. Results are cached by versions and options.
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
from collections.abc import Callable, Mapping, Sequence
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


MIN_JAVA = 21
JVM_DIR = Path("/usr/lib/jvm")
NO_JAVA = (
    f"no Java {MIN_JAVA} or newer (set OCIAM_JAVA_HOME to a JDK {MIN_JAVA}+, or OCIAM_JAVA_IMAGE "
    f"to a container image with one; Debian 12's apt has only OpenJDK 17)"
)


@dataclass(frozen=True)
class JavaRuntime:
    """Where ``kc.sh`` runs: a local JDK (``home``) or a container image with one."""

    home: Path | None = None
    image: str | None = None

    def describe(self) -> str:
        if self.image is not None:
            return f"image {self.image} (podman)"
        return f"{self.home} (Java {_java_major(self.home)})" if self.home else "none"


def java_runtime(
    environ: Mapping[str, str] | None = None,
    which: Callable[[str], str | None] = shutil.which,
    jvm_dir: Path | None = None,
) -> tuple[JavaRuntime | None, str]:
    """The Java ``kc.sh`` runs on (module docstring's order), or None and why not."""
    environ = os.environ if environ is None else environ
    jvm_dir = JVM_DIR if jvm_dir is None else jvm_dir
    refused: list[str] = []
    home = _good_home(environ.get("OCIAM_JAVA_HOME"), "OCIAM_JAVA_HOME", refused)
    if home is not None:
        return JavaRuntime(home=home), ""
    image = environ.get("OCIAM_JAVA_IMAGE")
    if image:
        podman = which("podman")
        if podman is None:
            refused.append(f"OCIAM_JAVA_IMAGE={image}: podman is not installed")
        elif _podman([podman, "image", "exists", image], environ) != 0:
            refused.append(f"OCIAM_JAVA_IMAGE={image}: no such image in podman's store")
        else:
            return JavaRuntime(image=image), ""
    home = _good_home(environ.get("JAVA_HOME"), "JAVA_HOME", refused)
    if home is not None:
        return JavaRuntime(home=home), ""
    candidates = [p for p in jvm_dir.glob("*") if (p / "bin" / "java").is_file()]
    good = sorted((_java_major(p), str(p)) for p in candidates if not p.is_symlink())
    good = [g for g in good if g[0] >= MIN_JAVA]
    if good:
        return JavaRuntime(home=Path(good[-1][1])), ""
    found = ", ".join(f"{p.name} (Java {_java_major(p)})" for p in candidates) or "nothing"
    refused.append(f"{jvm_dir} has {found}")
    return None, f"{NO_JAVA}: " + "; ".join(refused)


def _good_home(value: str | None, key: str, refused: list[str]) -> Path | None:
    if not value:
        return None
    home = Path(value)
    if not (home / "bin" / "java").is_file():
        refused.append(f"{key}={value}: no bin/java")
        return None
    if _java_major(home) < MIN_JAVA:
        refused.append(f"{key}={value}: Java {_java_major(home)}")
        return None
    return home


def _podman(command: Sequence[str], environ: Mapping[str, str]) -> int:
    try:
        return subprocess.run(
            command, env=dict(environ), capture_output=True, timeout=60, check=False
        ).returncode
    except (OSError, subprocess.TimeoutExpired):
        return -1


def java_home(environ: Mapping[str, str] | None = None) -> Path | None:
    """A local JDK 21+ (no image), or None."""
    runtime, _ = java_runtime({k: v for k, v in (environ or os.environ).items()
                               if k != "OCIAM_JAVA_IMAGE"})  # fmt: skip
    return runtime.home if runtime is not None else None


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
    #: the Java kc.sh ran on (JavaRuntime.describe), empty when it did not run
    java: str = ""

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


def _run(
    home: Path,
    java: JavaRuntime,
    args: Sequence[str],
    scratch: Path,
    environ: Mapping[str, str],
) -> tuple[int, str]:
    copy = scratch / home.name
    if not copy.exists():
        shutil.copytree(home, copy, symlinks=True)
    command = [str(copy / "bin" / "kc.sh"), "update-compatibility", *args]
    if java.image is not None:
        # the scratch directory (distribution copy and metadata file) at the same path
        # inside, owned by the caller; no network: the commands need none
        workdir = str(scratch.parent)
        command = [
            "podman", "run", "--rm", "--network=none", f"--timeout={TIMEOUT_SECONDS}",
            f"--user={os.getuid()}:{os.getgid()}", f"--env=HOME={scratch}",
            f"--volume={workdir}:{workdir}", f"--entrypoint={command[0]}", java.image,
            *command[1:],
        ]  # fmt: skip
        env = dict(environ)
    else:
        assert java.home is not None
        env = {
            "PATH": f"{java.home / 'bin'}:/usr/bin:/bin",
            "JAVA_HOME": str(java.home),
            "HOME": str(scratch),
            "LANG": "C.UTF-8",
        }
    done = subprocess.run(
        command,
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
    java, why_not = java_runtime(environ)
    if java is None:
        return CompatResult(old, new, None, "recreate", why_not)
    old_home, new_home = distribution(old, environ), distribution(new, environ)
    assert old_home is not None and new_home is not None
    with tempfile.TemporaryDirectory(prefix="ociam-kc-compat-") as scratch_dir:
        scratch = Path(scratch_dir)
        metadata = scratch / "metadata.json"
        code, output = _run(
            old_home,
            java,
            ["metadata", f"--file={metadata}", *old_options],
            scratch / "old",
            environ,
        )
        if code != 0 or not metadata.is_file():
            why = f"metadata with {old} on {java.describe()} failed (exit {code}): "
            return CompatResult(old, new, None, "recreate", why + _verdict(output))
        code, output = _run(
            new_home,
            java,
            ["check", f"--file={metadata}", *new_options],
            scratch / "new",
            environ,
        )
    decision: Decision = "rolling" if code == 0 else "recreate"
    result = CompatResult(old, new, code, decision, _verdict(output), java.describe())
    if code in EXIT_MEANING and code not in {1, 2}:
        cached.parent.mkdir(parents=True, exist_ok=True)
        cached.write_text(json.dumps(asdict(result)), encoding="utf-8")
    return result
