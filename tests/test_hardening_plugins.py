"""Unit tests of the hardening role's own module and filters (no containers).

The hardening_files module is what keeps the role's rerun fast (one call per
concern); its key/value editing and validation must be exact, since it edits
login.defs and auditd.conf in place and writes sshd and nftables
configuration that could lock an admin out.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROLE = Path(__file__).resolve().parents[1] / "roles" / "hardening"


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


files_module = _load(ROLE / "library" / "hardening_files.py")
net = _load(ROLE / "filter_plugins" / "hardening_net.py")


LOGIN_DEFS = """\
# comment
#UMASK 022
PASS_MAX_DAYS\t99999
PASS_MIN_DAYS\t0
ENCRYPT_METHOD SHA512
PASS_MAX_DAYS 1
"""


def test_settings_replace_first_and_drop_duplicates() -> None:
    result = files_module.apply_settings(LOGIN_DEFS, {"PASS_MAX_DAYS": "365"}, " ")
    assert result.splitlines().count("PASS_MAX_DAYS 365") == 1
    assert "PASS_MAX_DAYS 1" not in result
    assert "PASS_MAX_DAYS\t99999" not in result


def test_settings_insert_after_the_commented_default() -> None:
    lines = files_module.apply_settings(LOGIN_DEFS, {"UMASK": "027"}, " ").splitlines()
    assert lines.index("UMASK 027") == lines.index("#UMASK 022") + 1


def test_settings_append_unknown_keys_and_remove_null_ones() -> None:
    result = files_module.apply_settings(
        LOGIN_DEFS, {"HOME_MODE": "0750", "PASS_MIN_DAYS": None}, " "
    )
    assert result.endswith("HOME_MODE 0750\n")
    assert "PASS_MIN_DAYS" not in result


def test_settings_do_not_confuse_prefixes() -> None:
    text = "max_log_file = 8\nmax_log_file_action = ROTATE\n"
    result = files_module.apply_settings(text, {"max_log_file": 50}, " = ")
    assert result == "max_log_file = 50\nmax_log_file_action = ROTATE\n"


def test_settings_are_idempotent() -> None:
    settings = {"UMASK": "027", "PASS_MAX_DAYS": "365", "NEW": "x"}
    once = files_module.apply_settings(LOGIN_DEFS, settings, " ")
    assert files_module.apply_settings(once, settings, " ") == once


def _run_module(args: dict[str, object], tmp_path: Path, check_mode: bool = False) -> dict:
    """Run the module as Ansible would (JSON arguments on stdin)."""
    internal = {"_ansible_check_mode": check_mode, "_ansible_tmpdir": str(tmp_path)}
    payload = {"ANSIBLE_MODULE_ARGS": {**args, **internal, "_ansible_diff": True}}
    result = subprocess.run(
        [sys.executable, str(ROLE / "library" / "hardening_files.py")],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        check=False,
    )
    return json.loads(result.stdout)


def test_failed_validation_leaves_the_file_alone(tmp_path: Path) -> None:
    target = tmp_path / "sshd_config"
    target.write_text("Port 22\n")
    result = _run_module(
        {"files": [{"path": str(target), "content": "Port 2222\n", "validate": "false %s"}]},
        tmp_path,
    )
    assert result["failed"] is True
    assert "validation of" in result["msg"]
    assert target.read_text() == "Port 22\n"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".ociam-")]


def test_write_then_nothing_to_do(tmp_path: Path) -> None:
    target = tmp_path / "conf.d" / "x.conf"
    args = {
        "files": [{"path": str(target), "content": "a = 1", "mode": "0640", "validate": "true %s"}]
    }
    first = _run_module(args, tmp_path)
    assert first["changed"] is True
    assert target.read_text() == "a = 1\n"
    assert oct(target.stat().st_mode & 0o777) == "0o640"
    assert _run_module(args, tmp_path)["changed"] is False


def test_check_mode_reports_and_validates_without_writing(tmp_path: Path) -> None:
    target = tmp_path / "x.conf"
    target.write_text("old\n")
    good = _run_module({"files": [{"path": str(target), "content": "new"}]}, tmp_path, True)
    assert good["changed"] is True
    assert good["diff"][0]["after"] == "new\n"
    bad = _run_module(
        {"files": [{"path": str(target), "content": "new", "validate": "false %s"}]}, tmp_path, True
    )
    assert bad["failed"] is True
    assert target.read_text() == "old\n"


def test_split_networks_normalises_and_separates_families() -> None:
    split = net.hardening_split_networks(["10.1.2.3/24", "2001:db8::1/64", "192.0.2.7"])
    assert split == {"ipv4": ["10.1.2.0/24", "192.0.2.7/32"], "ipv6": ["2001:db8::/64"]}


def test_split_networks_rejects_garbage() -> None:
    with pytest.raises(Exception, match="not an IP address or CIDR"):
        net.hardening_split_networks(["10.0.0.0/33"])
    with pytest.raises(Exception, match="expected a list"):
        net.hardening_split_networks("10.0.0.0/8")


@pytest.mark.parametrize(
    ("address", "expected"),
    [("10.88.0.1", True), ("10.89.0.1", False), ("::ffff:10.88.3.4", True), ("2001:db8::5", True)],
)
def test_ip_in_networks(address: str, expected: bool) -> None:
    assert net.hardening_ip_in_networks(address, ["10.88.0.0/16", "2001:db8::/32"]) is expected


def test_mode_only_and_absent(tmp_path: Path) -> None:
    secret = tmp_path / "shadow"
    secret.write_text("root:*:1::::::\n")
    secret.chmod(0o644)
    gone = tmp_path / "old.conf"
    gone.write_text("x\n")
    args = {
        "files": [{"path": str(secret), "mode": "0640"}, {"path": str(gone), "state": "absent"}]
    }
    result = _run_module(args, tmp_path)
    assert result["changed_paths"] == [str(secret), str(gone)]
    assert oct(secret.stat().st_mode & 0o777) == "0o640"
    assert not gone.exists()
    # the content of a file managed for its mode only never reaches the diff
    assert all("root:" not in d["before"] for d in result["diff"])
    assert _run_module(args, tmp_path)["changed"] is False
