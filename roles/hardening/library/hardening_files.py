#!/usr/bin/python
# Copyright: ociam consortium platform team
# License: EUPL-1.2
"""Manage a batch of configuration files in one module call."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import tempfile
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
---
module: hardening_files
short_description: Manage many small configuration files in one call
description:
  - Writes whole files (C(content)), sets keys in key/value files such as
    C(/etc/login.defs) (C(settings)), creates directories, removes files and
    enforces owner, group and mode, for a list of paths in one round trip.
  - The hardening role uses it to keep one remote call per concern instead of
    two per file (a C(template) task costs a stat and a file call even when
    nothing changes), which is what makes the idempotent rerun fast.
  - A file with C(validate) is written to a temporary file next to its
    destination, validated, and only then moved into place atomically. In
    check mode the candidate is validated in a temporary directory when the
    validator is installed, so C(--check) reports a configuration that would
    be rejected.
  - Supports check mode and diff mode.
options:
  files:
    description: The paths to manage, in order. Processing stops at the first failure.
    type: list
    elements: dict
    required: true
    suboptions:
      path:
        description: Absolute path.
        type: path
        required: true
      state:
        description:
          - C(file) manages a regular file, C(directory) a directory,
            C(absent) removes a file.
        type: str
        choices: [file, directory, absent]
        default: file
      content:
        description: Whole content of the file; a final newline is added when missing.
        type: str
      settings:
        description:
          - Keys to set in a key/value file, in place. The first active line
            for a key is replaced, later active duplicates are removed; a
            missing key is added after its commented default, or at the end.
            A null value removes the key.
        type: dict
      separator:
        description: What goes between key and value when C(settings) writes a line.
        type: str
        default: " "
      mode:
        description: Mode, as an octal string such as C("0640").
        type: raw
      owner:
        description: Owner name.
        type: str
      group:
        description: Group name.
        type: str
      validate:
        description: Command validating the candidate file; C(%s) is replaced by its path.
        type: str
      if_exists:
        description: Skip the path silently when it does not exist (for permissions only).
        type: bool
        default: false
"""

EXAMPLES = r"""
- name: Write the SSH daemon configuration
  hardening_files:
    files:
      - path: /etc/ssh/sshd_config
        content: "{{ lookup('ansible.builtin.template', 'sshd_config.j2') }}"
        mode: "0600"
        owner: root
        group: root
        validate: /usr/sbin/sshd -t -f %s
      - path: /etc/login.defs
        settings: {UMASK: "027", PASS_MAX_DAYS: "365"}
"""

RETURN = r"""
changed_paths:
  description: The paths that were (or in check mode would be) changed.
  returned: always
  type: list
  elements: str
validation_skipped:
  description: Paths whose validator is not installed yet (check mode on a fresh host).
  returned: always
  type: list
  elements: str
"""


FILE_OPTIONS = {
    "path": {"type": "path", "required": True},
    "state": {"type": "str", "choices": ["file", "directory", "absent"], "default": "file"},
    "content": {"type": "str"},
    "settings": {"type": "dict"},
    "separator": {"type": "str", "default": " "},
    "mode": {"type": "raw"},
    "owner": {"type": "str"},
    "group": {"type": "str"},
    "validate": {"type": "str"},
    "if_exists": {"type": "bool", "default": False},
}


def apply_settings(text, settings, separator):
    """Return text with each key of settings set to its value (None removes it)."""
    lines = text.splitlines()
    for key, value in settings.items():
        active = re.compile(r"^\s*" + re.escape(key) + r"(\s|=|$)")
        commented = re.compile(r"^\s*#\s*" + re.escape(key) + r"(\s|=|$)")
        found = [i for i, line in enumerate(lines) if active.match(line)]
        if value is None:
            for i in reversed(found):
                del lines[i]
            continue
        wanted = f"{key}{separator}{value}"
        if found:
            lines[found[0]] = wanted
            for i in reversed(found[1:]):
                del lines[i]
            continue
        hints = [i for i, line in enumerate(lines) if commented.match(line)]
        if hints:
            lines.insert(hints[-1] + 1, wanted)
        else:
            lines.append(wanted)
    return "\n".join(lines) + "\n" if lines else ""


def read_text(path):
    return Path(path).read_text(encoding="utf-8", errors="surrogateescape")


def write_text(path, text):
    Path(path).write_text(text, encoding="utf-8", errors="surrogateescape")


class Batch:
    def __init__(self, module):
        self.module = module
        self.check = module.check_mode
        self.changed_paths = []
        self.diffs = []
        self.validation_skipped = []

    def file_args(self, item, path):
        mode = item["mode"]
        if isinstance(mode, int):
            mode = f"{mode:o}"
        params = {"path": path, "mode": mode, "owner": item["owner"], "group": item["group"]}
        return self.module.load_file_common_arguments(params, path=path)

    def mark(self, path, before=None, after=None):
        if path not in self.changed_paths:
            self.changed_paths.append(path)
        if before is not None or after is not None:
            self.diffs.append(
                {
                    "before_header": path,
                    "after_header": path,
                    "before": before or "",
                    "after": after or "",
                }
            )

    def validator_missing(self, command):
        argv = shlex.split(command)
        return not argv or shutil.which(argv[0]) is None

    def validate(self, item, path, candidate):
        command = item["validate"]
        rc, out, err = self.module.run_command(command.replace("%s", shlex.quote(candidate)))
        if rc != 0:
            self.module.fail_json(
                msg=f"validation of {path} failed, file left unchanged: "
                f"{command} exited {rc}: {(err or out).strip()}",
                changed_paths=self.changed_paths,
            )

    def write(self, item, path, text):
        directory = Path(path).parent
        if self.check:
            if item["validate"]:
                if self.validator_missing(item["validate"]):
                    self.validation_skipped.append(path)
                    return
                scratch = tempfile.mkdtemp(dir=self.module.tmpdir)
                candidate = str(Path(scratch) / Path(path).name)
                write_text(candidate, text)
                self.validate(item, path, candidate)
            return
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        fd, candidate = tempfile.mkstemp(prefix=".ociam-", suffix=".tmp", dir=str(directory))
        os.close(fd)
        try:
            write_text(candidate, text)
            # The candidate gets the final attributes first: visudo and sshd
            # judge a file's ownership and mode as well as its syntax.
            args = self.file_args(item, candidate)
            if args["mode"] is None and Path(path).exists():
                args["mode"] = f"{Path(path).stat().st_mode & 0o7777:o}"
            self.module.set_fs_attributes_if_different(args, False)
            if item["validate"]:
                if self.validator_missing(item["validate"]):
                    self.module.fail_json(
                        msg=f"cannot validate {path}: '{item['validate'].split()[0]}' is not "
                        "installed (does the role that provides it run first?)"
                    )
                self.validate(item, path, candidate)
            self.module.atomic_move(candidate, path, unsafe_writes=False)
        finally:
            Path(candidate).unlink(missing_ok=True)

    def handle(self, item):
        path = item["path"]
        state = item["state"]
        target = Path(path)
        exists = os.path.lexists(path)
        if item["content"] is not None and item["settings"] is not None:
            self.module.fail_json(msg=f"{path}: content and settings are mutually exclusive")
        if state == "absent":
            if exists:
                if target.is_dir() and not target.is_symlink():
                    self.module.fail_json(msg=f"{path}: refusing to remove a directory")
                self.mark(path, read_text(path) if target.is_file() else "", "")
                if not self.check:
                    target.unlink()
            return
        if item["if_exists"] and not exists:
            return
        if state == "directory":
            if exists and not target.is_dir():
                self.module.fail_json(msg=f"{path} exists and is not a directory")
            if not exists:
                self.mark(path, "", f"directory {path}\n")
                if self.check:
                    return
                target.mkdir(mode=0o755, parents=True)
            if self.module.set_fs_attributes_if_different(self.file_args(item, path), False):
                self.mark(path)
            return
        if exists and not target.is_file():
            self.module.fail_json(msg=f"{path} exists and is not a regular file")
        if item["content"] is None and item["settings"] is None:
            # Owner and mode only: never read the file (it may be /etc/shadow).
            if not exists:
                self.module.fail_json(msg=f"{path} does not exist and no content was given")
            if self.module.set_fs_attributes_if_different(self.file_args(item, path), False):
                self.mark(path)
            return
        before = read_text(path) if exists else None
        if item["content"] is not None:
            after = item["content"] if item["content"].endswith("\n") else item["content"] + "\n"
        else:
            after = apply_settings(before or "", item["settings"], item["separator"])
        if after != before:
            self.mark(path, before, after)
            self.write(item, path, after)
            if self.check and not exists:
                return
        if self.module.set_fs_attributes_if_different(self.file_args(item, path), False):
            self.mark(path)


def main():
    module = AnsibleModule(
        argument_spec={
            "files": {
                "type": "list",
                "elements": "dict",
                "required": True,
                "options": FILE_OPTIONS,
            }
        },
        supports_check_mode=True,
    )
    batch = Batch(module)
    for item in module.params["files"]:
        batch.handle(item)
    module.exit_json(
        changed=bool(batch.changed_paths),
        changed_paths=batch.changed_paths,
        validation_skipped=batch.validation_skipped,
        diff=batch.diffs,
    )


if __name__ == "__main__":
    main()
