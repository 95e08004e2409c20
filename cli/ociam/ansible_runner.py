"""Run the project's playbooks with the right inventory, limit and flags."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path


class PlaybookError(Exception):
    """Bad input or a missing prerequisite; nothing was run."""


@dataclass(frozen=True)
class PlaybookRun:
    """Everything needed to run one playbook against one environment."""

    root: Path
    env: str
    playbook: str
    city: str | None = None
    limit: str | None = None
    check: bool = False
    diff: bool = False
    tags: Sequence[str] = ()
    skip_tags: Sequence[str] = ()
    vault_password_file: Path | None = None
    extra_args: Sequence[str] = field(default_factory=tuple)

    @property
    def playbook_path(self) -> Path:
        return self.root / "playbooks" / f"{self.playbook}.yml"

    @property
    def inventory_path(self) -> Path:
        return self.root / "inventories" / self.env / "hosts.yml"

    def effective_limit(self) -> str | None:
        """The city's group, intersected with any explicit --limit."""
        if self.city and self.limit:
            return f"{self.city}:&{self.limit}"
        return self.city or self.limit


def available_playbooks(root: Path) -> list[str]:
    return sorted(p.stem for p in (root / "playbooks").glob("*.yml"))


def find_ansible_playbook() -> str:
    """ansible-playbook next to this interpreter (the venv), else on PATH."""
    beside = Path(sys.executable).parent / "ansible-playbook"
    if beside.exists():
        return str(beside)
    found = shutil.which("ansible-playbook")
    if found is None:
        raise PlaybookError(
            "ansible-playbook not found; install with `pip install -e '.[test]'` "
            "or `pip install ansible`"
        )
    return found


def build_command(run: PlaybookRun, executable: str) -> list[str]:
    if not run.playbook_path.is_file():
        known = ", ".join(available_playbooks(run.root)) or "none"
        raise PlaybookError(
            f"no playbook '{run.playbook}' (playbooks/{run.playbook}.yml); available: {known}"
        )
    if run.vault_password_file is not None and not run.vault_password_file.is_file():
        raise PlaybookError(f"--vault-password-file {run.vault_password_file} does not exist")
    command = [executable, "-i", str(run.inventory_path), str(run.playbook_path)]
    limit = run.effective_limit()
    if limit:
        command += ["--limit", limit]
    if run.check:
        command.append("--check")
    if run.diff:
        command.append("--diff")
    if run.tags:
        command += ["--tags", ",".join(run.tags)]
    if run.skip_tags:
        command += ["--skip-tags", ",".join(run.skip_tags)]
    if run.vault_password_file is not None:
        command += ["--vault-password-file", str(run.vault_password_file)]
    return [*command, *run.extra_args]


def playbook_environment(root: Path, base: Mapping[str, str]) -> dict[str, str]:
    """The caller's environment plus the project's roles and config.

    Vault settings (ANSIBLE_VAULT_PASSWORD_FILE, ANSIBLE_VAULT_IDENTITY_LIST)
    pass through untouched.
    """
    env = dict(base)
    env["ANSIBLE_ROLES_PATH"] = str(root / "roles")
    config = root / "ansible.cfg"
    if config.is_file():
        env.setdefault("ANSIBLE_CONFIG", str(config))
    env.setdefault("ANSIBLE_FORCE_COLOR", "1" if sys.stdout.isatty() else "0")
    return env


def run_playbook(run: PlaybookRun) -> int:
    """Run with output streamed to this terminal; return ansible-playbook's exit code."""
    command = build_command(run, find_ansible_playbook())
    completed = subprocess.run(
        command, cwd=run.root, env=playbook_environment(run.root, os.environ), check=False
    )
    return completed.returncode
