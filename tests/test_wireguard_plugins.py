"""Unit tests of the wireguard role's plugins and its config checker."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROLE = Path(__file__).resolve().parents[1] / "roles" / "wireguard"
KEY_A, KEY_B = "A" * 42 + "Q=", "B" * 42 + "Q="


def _load(relative: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(Path(relative).stem, ROLE / relative)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_in_net_accepts_hosts_only() -> None:
    net = _load("test_plugins/wireguard_net.py")
    assert net.wireguard_in_net("172.20.0.11", "172.20.0.0/24")
    assert not net.wireguard_in_net("172.20.0.0", "172.20.0.0/24")  # network address
    assert not net.wireguard_in_net("172.20.0.255", "172.20.0.0/24")  # broadcast
    assert not net.wireguard_in_net("172.21.0.1", "172.20.0.0/24")
    assert not net.wireguard_in_net("172.20.0.1", "172.20.0.1/24")  # host bits set
    assert net.wireguard_is_ipv4_net("10.240.0.0/22")
    assert not net.wireguard_is_ipv4_net("10.240.0.0")


def test_live_keys_keep_a_tunnel_whose_key_is_unknown() -> None:
    peers = _load("filter_plugins/wireguard_peers.py")
    live = f"{KEY_A}\t172.20.0.11/32\n{KEY_B}\t172.20.0.12/32\n"
    wanted = [
        {"name": "pori", "public_key": "", "allowed_ips": ["172.20.0.11/32"]},
        {"name": "porvoo", "public_key": KEY_A, "allowed_ips": ["172.20.0.12/32"]},
        {"name": "new", "public_key": "", "allowed_ips": ["172.20.0.13/32"]},
    ]
    result = peers.wireguard_keep_live_keys(wanted, live)
    assert result[0]["public_key"] == KEY_A and result[0]["kept_live"]
    assert result[1]["public_key"] == KEY_A and "kept_live" not in result[1]  # catalog wins
    assert result[2]["public_key"] == "" and not result[2]["kept_live"]
    assert peers.wireguard_keep_live_keys(wanted, "")[0]["public_key"] == ""


def _check(tmp_path: Path, text: str) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "wg0.conf"
    path.write_text(text)
    return subprocess.run(
        [sys.executable, str(ROLE / "files" / "wg-config-check"), str(path)],
        capture_output=True,
        text=True,
        check=False,
    )


GOOD = f"""[Interface]
Address = 172.20.0.1/24
Address = 172.21.0.11/32
ListenPort = 51820
MTU = 1420
PostUp = wg set %i private-key /etc/wireguard/%i.key

[Peer]
PublicKey = {KEY_A}
AllowedIPs = 172.20.0.11/32
Endpoint = hub.example.fi:51820
PersistentKeepalive = 25
"""


def test_config_checker_accepts_what_the_role_writes(tmp_path: Path) -> None:
    assert _check(tmp_path, GOOD).returncode == 0


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        (f"PublicKey = {KEY_A}", "PublicKey = short", "bad PublicKey"),
        ("AllowedIPs = 172.20.0.11/32", "AllowedIPs = 172.20.0.11/24", "bad AllowedIPs"),
        ("ListenPort = 51820", "ListenPort = 70000", "bad ListenPort"),
        ("Endpoint = hub.example.fi:51820", "Endpoint = hub.example.fi", "bad Endpoint"),
        ("MTU = 1420", "Mtu = 1420", "does not belong"),
        ("[Peer]", "[Peers]", "unknown section"),
        (f"PublicKey = {KEY_A}\n", "", "has no PublicKey"),
    ],
)
def test_config_checker_refuses_broken_files(
    tmp_path: Path, old: str, new: str, reason: str
) -> None:
    result = _check(tmp_path, GOOD.replace(old, new))
    assert result.returncode == 1
    assert reason in result.stderr


def test_config_checker_refuses_a_peer_listed_twice(tmp_path: Path) -> None:
    twice = GOOD + GOOD[GOOD.index("[Peer]") :].replace("172.20.0.11", "172.20.0.12")
    result = _check(tmp_path, twice)
    assert result.returncode == 1 and "listed twice" in result.stderr
