"""checkov (PyPI) in a virtual environment of its own, outside the project's.

    .venv/bin/python -m tests.realsys.checkov_venv [--force]

checkov pins dozens of libraries that would fight the project's own (pydantic, the
Pulumi SDK, ansible); so it gets ``${OCIAM_CACHE_DIR:-~/.cache/ociam}/venvs/
checkov-<version>/``, the version pinned in tools/toolchain.toml ``[checkov]``. Creating
it is idempotent: a venv whose stamp names the pinned version is kept; anything else
there (an interrupted install, another version) is replaced. ``require_checkov()`` is
for the tests, which never install: it fails and says how to create what is missing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from tests.realsys.rootfs import BuildError
from tests.realsys.toolchain import PINS, ROOT, cache_dir, load_pins

SECTION = "checkov"
STAMP = "OCIAM-VENV.json"


def pinned_version() -> str:
    pins = load_pins()
    if SECTION not in pins or "version" not in pins[SECTION]:
        raise BuildError(f"{PINS} has no [{SECTION}] version")
    return pins[SECTION]["version"]


def venv_dir(version: str | None = None) -> Path:
    return cache_dir() / "venvs" / f"checkov-{version or pinned_version()}"


def executable(version: str | None = None) -> Path:
    return venv_dir(version) / "bin" / "checkov"


def ready(version: str | None = None) -> bool:
    version = version or pinned_version()
    stamp = venv_dir(version) / STAMP
    if not stamp.is_file() or not executable(version).is_file():
        return False
    recorded: dict[str, str] = json.loads(stamp.read_text(encoding="utf-8"))
    return recorded.get("version") == version


def _run(command: Sequence[str]) -> str:
    result = subprocess.run(list(command), capture_output=True, text=True, check=False)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-4000:]
        raise BuildError(f"{' '.join(command)} failed ({result.returncode}):\n{tail}")
    return result.stdout


def ensure(force: bool = False) -> Path:
    """The checkov executable, creating its venv first unless it is ready."""
    version = pinned_version()
    target = venv_dir(version)
    if ready(version) and not force:
        return executable(version)
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    # the interpreter the project runs on (the venv's base, not the project venv itself)
    _run([sys.executable, "-m", "venv", str(target)])
    pip = str(target / "bin" / "pip")
    _run([pip, "install", "--quiet", "--disable-pip-version-check", f"checkov=={version}"])
    reported = _run([str(executable(version)), "--version"]).strip()
    if reported != version:
        raise BuildError(f"{executable(version)} reports {reported!r}, not {version}")
    frozen = _run([pip, "freeze", "--disable-pip-version-check"]).splitlines()
    stamp = {
        "version": version,
        "python": sys.version.split()[0],
        "seconds": round(time.monotonic() - start, 1),
        "packages": frozen,
    }
    # the stamp last: its presence marks a finished venv
    (target / STAMP).write_text(json.dumps(stamp, indent=2) + "\n", encoding="utf-8")
    return executable(version)


def require_checkov() -> Path:
    """For tests: the checkov executable, or a failure saying how to create it."""
    version = pinned_version()
    if not ready(version):
        raise BuildError(
            f"checkov {version} is not installed in {venv_dir(version)}; run "
            "`.venv/bin/python -m tests.realsys.checkov_venv` (or .ci/bootstrap): it "
            f"creates that venv from PyPI as pinned in {PINS.relative_to(ROOT)}"
        )
    return executable(version)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.realsys.checkov_venv")
    parser.add_argument("--force", action="store_true", help="recreate even a ready venv")
    args = parser.parse_args(argv)
    try:
        path = ensure(args.force)
    except BuildError as error:
        print(f"checkov venv: {error}", file=sys.stderr)
        return 1
    print(f"checkov venv: {path} ({pinned_version()})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
