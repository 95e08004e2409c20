#!/usr/bin/python
# Copyright: ociam consortium platform team
# License: EUPL-1.2
"""Report who is connected and how, for the hardening role's lockout checks."""

from __future__ import annotations

import grp
import os
import pwd
import re
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: hardening_preflight
short_description: Describe the login session the play runs through
description:
  - Run without privilege escalation (C(become=false)) so that it sees the
    login user's identity and session. Reports the user, its groups, the
    SSH connection (client and server address and port, empty when the
    connection is not SSH) and the public keys in the user's authorized keys
    files with their type and size, as C(ssh-keygen -l) reads them.
  - Changes nothing; the role compares the result with what it is about to
    configure and stops before a change that would lock the user out.
options:
  authorized_keys_files:
    description:
      - AuthorizedKeysFile patterns as sshd understands them; C(%h) is the
        home directory, C(%u) the user name, C(%%) a percent sign; relative
        paths are relative to the home directory.
    type: list
    elements: str
    default: [.ssh/authorized_keys]
"""

RETURN = r"""
user:
  description: Login user name.
  type: str
  returned: always
uid:
  description: Login user id.
  type: int
  returned: always
groups:
  description: Names of all groups of the login user.
  type: list
  elements: str
  returned: always
ssh:
  description: The SSH_CONNECTION of the session, split; empty when not connected over SSH.
  type: dict
  returned: always
  sample: {client: 10.1.2.3, client_port: 51234, server: 10.1.2.10, server_port: 22}
authorized_keys:
  description: Keys found in the authorized keys files.
  type: list
  elements: dict
  returned: always
  sample:
    - {file: /home/admin/.ssh/authorized_keys, type: ED25519, bits: 256, algorithms: [ssh-ed25519]}
"""


KEY_LINE = re.compile(r"^(?P<bits>\d+)\s+\S+\s.*\((?P<type>[A-Z0-9-]+)\)\s*$")


def algorithms(key_type, bits):
    """Public key algorithm names (PubkeyAcceptedAlgorithms) a key can sign with."""
    return {
        "ED25519": ["ssh-ed25519"],
        "ED25519-SK": ["sk-ssh-ed25519@openssh.com"],
        "ECDSA": [f"ecdsa-sha2-nistp{bits}"],
        "ECDSA-SK": ["sk-ecdsa-sha2-nistp256@openssh.com"],
        "RSA": ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"],
        "DSA": ["ssh-dss"],
    }.get(key_type, [])


def expand(pattern, user, home):
    tokens = {"%%": "%", "%h": home, "%u": user}
    path = Path(re.sub(r"%[%hu]", lambda m: tokens[m.group(0)], pattern))
    return path if path.is_absolute() else Path(home) / path


def main():
    module = AnsibleModule(
        argument_spec={
            "authorized_keys_files": {
                "type": "list",
                "elements": "str",
                "default": [".ssh/authorized_keys"],
            }
        },
        supports_check_mode=True,
    )
    uid = os.getuid()
    entry = pwd.getpwuid(uid)
    groups = sorted(
        {grp.getgrgid(gid).gr_name for gid in os.getgrouplist(entry.pw_name, entry.pw_gid)}
    )

    ssh = {}
    parts = os.environ.get("SSH_CONNECTION", "").split()
    if len(parts) == 4:
        ssh = {
            "client": parts[0],
            "client_port": int(parts[1]),
            "server": parts[2],
            "server_port": int(parts[3]),
        }

    keys = []
    keygen = module.get_bin_path("ssh-keygen")
    for pattern in module.params["authorized_keys_files"]:
        path = expand(pattern, entry.pw_name, entry.pw_dir)
        if not keygen or not path.is_file() or path.stat().st_size == 0:
            continue
        rc, out, _err = module.run_command([keygen, "-l", "-f", str(path)])
        if rc != 0:
            continue
        for line in out.splitlines():
            match = KEY_LINE.match(line.strip())
            if match:
                bits = int(match["bits"])
                keys.append(
                    {
                        "file": str(path),
                        "type": match["type"],
                        "bits": bits,
                        "algorithms": algorithms(match["type"], bits),
                    }
                )

    module.exit_json(
        changed=False,
        user=entry.pw_name,
        uid=uid,
        groups=groups,
        ssh=ssh,
        authorized_keys=keys,
    )


if __name__ == "__main__":
    main()
