"""Every command, every broken file or directory: one line of reason, the documented exit
code, no traceback, nothing hanging.

The commands run as processes (a traceback would show on stderr). Faults: a root that is
no checkout, an environment, ``group_vars`` or file that is missing, of the wrong type
(a directory for a file, a file for a directory, a FIFO, a dangling symlink) or
unreadable, content of the wrong YAML type, and output paths that cannot be written
(an existing file, a read-only directory). Root reads and writes everything, so the
unreadable and read-only cases run without root's file-permission override
(``setpriv`` drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH). Every fault runs with the
commands that read the whole catalog or write (validate, render, new-city); the other
commands get two faults each. An unset passphrase is in tests/engines/test_pulumi_engine.py,
a wrong one (the real CLI) in tests/cluster/test_real_engine.py.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

OCIAM = str(Path(sys.executable).parent / "ociam")
ROOT = Path(__file__).resolve().parents[2]
HANG_GUARD_SECONDS = 120
DEMO = "inventories/dev/group_vars/demo.yml"

COMMANDS: dict[str, list[str]] = {
    "cities": ["cities"],
    "show": ["show", "demo"],
    "validate": ["validate"],
    "render": ["render", "--city", "demo", "--out", "{out}"],
    "preview": ["preview", "--engine", "offline", "--city", "demo"],
    "new-city": [
        "new-city", "lahti", "--name", "Lahti", "--domain", "lahti.fi", "--code", "398",
        "--admin-cidr", "198.51.100.240/29",
    ],
    "playbook": ["playbook", "harden", "--city", "demo", "--check"],
}  # fmt: skip


#: as root, without the capabilities that let root ignore file permissions
WITHOUT_OVERRIDE = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
ALL_FAULTS = ("validate", "render", "new-city")


#: the count or "nothing written" line that follows a catalog error
SUMMARY = re.compile(
    r"^((dev|staging|prod): \d+ error\(s\), \d+ warning\(s\)"
    r"|\d+ errors? in the (dev|staging|prod) catalog|[\w-]+: nothing written)$"
)


@dataclass(frozen=True)
class Fault:
    id: str
    setup: Callable[[Path], None]
    #: a fragment of the one-line reason on stderr
    reason: str
    code: int = 2
    #: run as an unprivileged user (unreadable/read-only cases)
    unprivileged: bool = False
    #: (code, reason) for new-city where it differs: it must lock inventories/ to write
    new_city: tuple[int, str] | None = None


def _remove(relative: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        path = root / relative
        shutil.rmtree(path) if path.is_dir() else path.unlink()

    return setup


def _as_directory(relative: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        path = root / relative
        path.unlink()
        path.mkdir()

    return setup


def _as_file(relative: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        path = root / relative
        shutil.rmtree(path)
        path.write_text("not a directory\n", encoding="utf-8")

    return setup


def _fifo(root: Path) -> None:
    path = root / DEMO
    path.unlink()
    os.mkfifo(path)


def _dangling(root: Path) -> None:
    path = root / DEMO
    path.unlink()
    path.symlink_to(root / "nowhere.yml")


def _unreadable(relative: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        (root / relative).chmod(0o000)

    return setup


def _list_document(root: Path) -> None:
    (root / "inventories/dev/group_vars/all.yml").write_text("- a\n- b\n", encoding="utf-8")


FAULTS = [
    Fault("env-missing", _remove("inventories/dev"), "inventories/dev"),
    Fault("defaults-missing", _remove("inventories/dev/group_vars/all.yml"), "file not found"),
    Fault("group-vars-missing", _remove("inventories/dev/group_vars"), "group_vars"),
    Fault("group-vars-a-file", _as_file("inventories/dev/group_vars"), "group_vars"),
    Fault("hosts-a-directory", _as_directory("inventories/dev/hosts.yml"), "is a directory"),
    Fault("city-a-directory", _as_directory(DEMO), "demo.yml: is a directory, not a file"),
    Fault("city-a-fifo", _fifo, "not a regular file"),
    Fault("city-dangling-symlink", _dangling, "file not found"),
    Fault("city-unreadable", _unreadable(DEMO), "cannot read", unprivileged=True),
    Fault(
        "group-vars-unreadable",
        _unreadable("inventories/dev/group_vars"),
        "inventories/dev/group_vars: cannot read: Permission denied",
        unprivileged=True,
    ),
    Fault(
        "env-unreadable",
        _unreadable("inventories/dev"),
        "cannot read: Permission denied",
        unprivileged=True,
    ),
    Fault(
        "inventories-unreadable",
        _unreadable("inventories"),
        "cannot read: Permission denied",
        unprivileged=True,
        new_city=(1, "inventories: Permission denied (nothing written)"),
    ),
    Fault("defaults-a-list", _list_document, "all.yml"),
]


@pytest.fixture
def checkout() -> Iterator[Path]:
    # world-readable, so that the unprivileged user can read what it should
    base = Path(tempfile.mkdtemp(prefix="ociam-errors-"))
    base.chmod(0o755)
    root = base / "checkout"
    for part in ("inventories", "stacks", "playbooks", "roles"):
        shutil.copytree(ROOT / part, root / part, symlinks=True)
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)
    yield root
    shutil.rmtree(base, ignore_errors=True)


def _run(
    root: Path, args: list[str], unprivileged: bool, **environ: str
) -> subprocess.CompletedProcess[str]:
    prefix = WITHOUT_OVERRIDE if unprivileged and os.geteuid() == 0 else []
    env = {**os.environ, "OCIAM_ENV": "", "HOME": str(root), **environ}
    return subprocess.run(
        [*prefix, OCIAM, *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=HANG_GUARD_SECONDS,
        check=False,
        env=env,
    )


def _assert_one_line_reason(
    result: subprocess.CompletedProcess[str], code: int, reason: str, *, usage: bool = False
) -> None:
    """``usage``: click's own refusal of an argument, its usage line and error box."""
    output = result.stdout + result.stderr
    assert "Traceback" not in output, output
    assert result.returncode == code, output
    if usage:
        assert result.stderr.startswith("Usage: "), result.stderr
        assert any(reason in line for line in result.stderr.splitlines()), result.stderr
        return
    lines = [line for line in result.stderr.splitlines() if not SUMMARY.match(line)]
    # exactly one line says what is wrong (a catalog error adds its count line)
    assert len(lines) == 1, result.stderr
    assert reason in lines[0], result.stderr


MATRIX = [
    (command, fault)
    for command in COMMANDS
    for fault in FAULTS
    if command in ALL_FAULTS or fault.id in {"env-missing", "city-unreadable"}
]


@pytest.mark.parametrize(("command", "fault"), MATRIX, ids=[f"{c}-{f.id}" for c, f in MATRIX])
def test_broken_catalog_files(checkout: Path, command: str, fault: Fault) -> None:
    fault.setup(checkout)
    args = [a.replace("{out}", str(checkout / "out")) for a in COMMANDS[command]]
    result = _run(checkout, args, fault.unprivileged)
    code, reason = fault.code, fault.reason
    if command == "new-city" and fault.new_city is not None:
        code, reason = fault.new_city
    _assert_one_line_reason(result, code, reason)


@pytest.mark.parametrize("command", ["cities", "validate", "render"])
def test_a_root_that_is_no_checkout(command: str, tmp_path: Path) -> None:
    args = [a.replace("{out}", str(tmp_path / "out")) for a in COMMANDS[command]]
    result = _run(tmp_path, ["--root", str(tmp_path / "nowhere"), *args], unprivileged=False)
    _assert_one_line_reason(result, 2, "is not an ociam checkout")


def test_render_into_a_path_that_is_a_file(checkout: Path) -> None:
    target = checkout / "out"
    target.write_text("a file\n", encoding="utf-8")
    result = _run(checkout, ["render", "--city", "demo", "--out", str(target)], unprivileged=False)
    _assert_one_line_reason(result, 2, "is a file", usage=True)


READ_ONLY_WRITERS = {
    "render": ["render", "--city", "demo", "--out", "{dir}"],
    "summary": ["preview", "--engine", "offline", "--city", "demo", "--summary-md", "{dir}/s.md"],
}


@pytest.mark.parametrize("writer", sorted(READ_ONLY_WRITERS))
def test_writing_into_a_read_only_directory(checkout: Path, writer: str) -> None:
    target = checkout / "read-only"
    target.mkdir()
    target.chmod(0o555)
    args = [a.replace("{dir}", str(target)) for a in READ_ONLY_WRITERS[writer]]
    result = _run(checkout, args, unprivileged=True)
    _assert_one_line_reason(result, 1, "cannot write")
    assert list(target.iterdir()) == []


def test_new_city_into_a_read_only_environment(checkout: Path) -> None:
    environment = checkout / "inventories/dev"
    for path in [environment, *environment.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    before = sorted(p.name for p in (checkout / "inventories").iterdir())
    result = _run(checkout, COMMANDS["new-city"], unprivileged=True)
    # names the file it would have written, not the staging copy
    _assert_one_line_reason(result, 1, "/inventories/dev/group_vars/lahti.yml: Permission denied")
    assert ".ociam-edit" not in result.stderr
    # the staging copy is gone
    assert sorted(p.name for p in (checkout / "inventories").iterdir()) == before
    assert not (environment / "group_vars/lahti.yml").exists()


def test_a_kubeconfig_that_is_not_yaml(checkout: Path) -> None:
    kubeconfig = checkout / "kubeconfig.yml"
    kubeconfig.write_text("apiVersion: v1\nclusters: [\n  - a: b: c\n", encoding="utf-8")
    result = _run(
        checkout, ["backup", "--city", "demo"], unprivileged=False, KUBECONFIG=str(kubeconfig)
    )
    _assert_one_line_reason(result, 1, "kubeconfig.yml is not valid YAML: line 3: ")


def test_a_passphrase_file_that_is_a_directory(checkout: Path) -> None:
    directory = checkout / "passphrase"
    directory.mkdir()
    result = _run(
        checkout,
        ["preview", "--engine", "pulumi", "--city", "demo"],
        unprivileged=False,
        PULUMI_CONFIG_PASSPHRASE="",
        PULUMI_CONFIG_PASSPHRASE_FILE=str(directory),
    )
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 1, result.stdout + result.stderr
    assert f"PULUMI_CONFIG_PASSPHRASE_FILE names {directory}, a directory" in result.stdout
    assert "does not exist" not in result.stdout + result.stderr
