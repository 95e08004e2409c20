"""Run the harden playbook against the VM over SSH, as an on-prem admin runs it.

``ociam playbook harden`` always uses ``inventories/<env>/hosts.yml`` (it has no
option for another inventory, cli/ociam/ansible_runner.py), and the VM is in no
catalog environment. So this runs what ``ociam playbook harden`` runs,
``ansible-playbook -i INVENTORY playbooks/harden.yml [--check] [--diff]``, with
an inventory that makes the VM a hub host: admin group ``ociam-admins``, SSH
allowed from the user-mode gateway only (where forwarded connections come from).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.vm.machine import ADMIN_GROUP, ADMIN_SOURCE, ADMIN_USER, SSH_OPTIONS, Machine

ROOT = Path(__file__).resolve().parents[2]
PLAYBOOK = ROOT / "playbooks" / "harden.yml"
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"


@dataclass(frozen=True)
class PlayResult:
    seconds: float
    returncode: int
    output: str

    @property
    def recap(self) -> dict[str, int]:
        """ok/changed/failed/unreachable... of the (only) host in PLAY RECAP."""
        tail = self.output.rsplit("PLAY RECAP", maxsplit=1)[-1]
        return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", tail)}

    def changed_tasks(self) -> list[str]:
        """Names of the tasks that reported changed (for a failure message)."""
        names: list[str] = []
        current = ""
        for line in self.output.splitlines():
            if line.startswith(("TASK [", "RUNNING HANDLER [")):
                current = line.split("[", 1)[1].rsplit("]", 1)[0]
            elif line.startswith("changed:"):
                names.append(current)
        return names


def inventory(machine: Machine, directory: Path) -> Path:
    host = {
        "ansible_host": "127.0.0.1",
        "ansible_port": machine.ssh_port,
        "ansible_user": ADMIN_USER,
        "ansible_ssh_private_key_file": str(machine.key),
        "ansible_ssh_common_args": " ".join(SSH_OPTIONS),
        "ansible_pipelining": True,
    }
    data = {
        "all": {
            "vars": {"onprem": {"admin_group": ADMIN_GROUP}},
            "children": {
                "hub": {
                    "hosts": {"ociam-vm": host},
                    "vars": {"hub": {"ssh_allowed_sources": [f"{ADMIN_SOURCE}/32"]}},
                }
            },
        }
    }
    path = directory / "inventory-vm.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def harden(inventory_file: Path, *args: str, timeout: float = 1800) -> PlayResult:
    """ansible-playbook -i INVENTORY playbooks/harden.yml ARGS (output kept, not printed)."""
    env = {
        **os.environ,
        "ANSIBLE_ROLES_PATH": str(ROOT / "roles"),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_SSH_ARGS": "-o ControlMaster=auto -o ControlPersist=120s",
        "ANSIBLE_PYTHON_INTERPRETER": "auto_silent",
        "ANSIBLE_TIMEOUT": "60",
    }
    command = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory_file), str(PLAYBOOK), *args]
    started = time.monotonic()
    result = subprocess.run(
        command, env=env, text=True, capture_output=True, check=False, timeout=timeout
    )
    return PlayResult(time.monotonic() - started, result.returncode, result.stdout + result.stderr)
