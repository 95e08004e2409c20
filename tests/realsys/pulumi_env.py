"""The real Pulumi CLI for the tests: a private PULUMI_HOME, local state, and a checkout copy.

    engine = PulumiTestEnvironment.create(base, bin_dir)   # plugins installed from bin_dir
    checkout = copy_checkout(base / "checkout")            # the catalog and programs, a git repo
    subprocess.run([OCIAM, "up", ...], env=engine.env(kubeconfig), cwd=checkout)

What the CLI is given, and why:

- ``PULUMI_HOME`` of its own, with the provider plugins installed from the toolchain's
  binaries (``pulumi plugin install resource NAME VERSION --file BINARY``) at exactly the
  versions the Python SDKs declare; ``PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION`` makes a
  missing plugin an error instead of a download, ``PULUMI_SKIP_UPDATE_CHECK`` keeps it
  offline.
- ``PULUMI_PYTHON_CMD``: the venv's Python. The language host built here comes from an
  older SDK (its own module is not served, tools/toolchain.toml) and does not read the
  project's ``virtualenv`` runtime option the way the current CLI passes it; the released
  CLI does, and users need nothing of the sort.
- a ``file://`` backend in the test's directory and a random passphrase per session, which
  the tests also look for in everything the CLI printed and stored.

Stack config files (``stacks/city/Pulumi.<stack>.yaml``) are written next to the program,
so the tests run ``ociam`` in a copy of the checkout, never in this one.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
OCIAM = str(VENV_BIN / "ociam")
#: what ``ociam`` needs of a checkout to deploy (the package itself is the venv's)
CHECKOUT_PARTS = ("inventories", "stacks", "schemas")
#: what goes on PATH: the CLI and the Python language host
CLI_BINARIES = ("pulumi", "pulumi-language-python", "pulumi-language-python-exec")
#: the Python SDK distributions whose resource plugins the programs load
PLUGIN_PACKAGES = {"kubernetes": "pulumi_kubernetes", "random": "pulumi_random"}


def sdk_plugin_version(package: str) -> str:
    """The plugin version a Python SDK asks the engine for (its ``pulumi-plugin.json``)."""
    files = importlib.metadata.files(package.replace("_", "-")) or []
    for file in files:
        if file.name == "pulumi-plugin.json":
            data = json.loads(file.read_text(encoding="utf-8"))
            return str(data["version"])
    raise LookupError(f"{package} has no pulumi-plugin.json")


@dataclass(frozen=True)
class PulumiTestEnvironment:
    home: Path
    backend: Path
    bin_dir: Path
    passphrase: str

    @classmethod
    def create(cls, base: Path, bin_dir: Path) -> PulumiTestEnvironment:
        environment = cls(
            home=base / "pulumi-home",
            backend=base / "pulumi-state",
            bin_dir=bin_dir,
            passphrase=f"test-passphrase-{secrets.token_urlsafe(18)}",
        )
        environment.backend.mkdir(parents=True, mode=0o700, exist_ok=True)
        environment.cli_dir.mkdir(parents=True, exist_ok=True)
        for name in CLI_BINARIES:
            (environment.cli_dir / name).symlink_to(bin_dir / name)
        for name, package in PLUGIN_PACKAGES.items():
            environment.pulumi(
                "plugin", "install", "resource", name, sdk_plugin_version(package),
                "--file", str(bin_dir / f"pulumi-resource-{name}"),
            )  # fmt: skip
        return environment

    @property
    def cli_dir(self) -> Path:
        """The CLI and its language host only: plugins come from PULUMI_HOME, as a user's
        do (a plugin on PATH would be used instead, with a warning)."""
        return self.home.parent / "pulumi-cli"

    def env(self, kubeconfig: Path | None = None, **extra: str) -> dict[str, str]:
        """The environment of an ``ociam`` or ``pulumi`` process of the tests."""
        environ = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("PULUMI_", "OCIAM_PULUMI", "KUBECONFIG"))
        }
        environ.update(
            PATH=os.pathsep.join([str(self.cli_dir), str(VENV_BIN), environ.get("PATH", "")]),
            PULUMI_HOME=str(self.home),
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
            PULUMI_PYTHON_CMD=sys.executable,
            OCIAM_PULUMI_BACKEND_URL=self.backend.as_uri(),
            PULUMI_BACKEND_URL=self.backend.as_uri(),
            PULUMI_CONFIG_PASSPHRASE=self.passphrase,
            KUBECONFIG=str(kubeconfig) if kubeconfig else os.devnull,
        )
        environ.update(extra)
        return environ

    def pulumi(
        self, *args: str, cwd: Path | None = None, env: Mapping[str, str] | None = None
    ) -> str:
        """Run the real CLI; its output, or an AssertionError with what it printed."""
        result = subprocess.run(
            [str(self.bin_dir / "pulumi"), "--non-interactive", *args],
            cwd=cwd,
            env=dict(env) if env is not None else self.env(),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)}: {result.stdout}{result.stderr}")
        return result.stdout

    def set_secret(self, checkout: Path, stack: str, key: str, value: str) -> None:
        """``pulumi config set --secret`` on a city stack (the value on stdin, never argv)."""
        result = subprocess.run(
            [str(self.bin_dir / "pulumi"), "--non-interactive", "config", "set", "--secret",
             key, "--stack", stack],
            cwd=checkout / "stacks" / "city",
            env=self.env(),
            input=value,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise AssertionError(f"config set {key}: {result.stdout}{result.stderr}")


def copy_checkout(target: Path) -> Path:
    """The catalog and programs in ``target``, committed as the first commit of a git repo."""
    target.mkdir(parents=True)
    for part in CHECKOUT_PARTS:
        shutil.copytree(ROOT / part, target / part, symlinks=True)
    shutil.copy2(ROOT / "pyproject.toml", target / "pyproject.toml")
    git(target, "init", "-q", "-b", "main")
    git(target, "add", "-A")
    git(target, "commit", "-q", "-m", "seed catalog")
    return target


def git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "-c", "user.name=ociam tests", "-c", "user.email=tests@ociam.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout
