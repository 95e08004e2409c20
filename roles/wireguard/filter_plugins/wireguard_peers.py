"""Peers for the wireguard role's config: fill in keys the live interface already has.

A peer whose public key is neither in the catalog nor known from this run
would be left out of the config, and a reload would drop a working tunnel
(for example the hub playbook run alone before the city's key is recorded).
``wireguard_keep_live_keys`` takes the key the running interface has for the
peer's first allowed address instead, and marks the peer ``kept_live``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def live_keys(allowed_ips_output: str) -> dict[str, str]:
    """Allowed address -> peer key, from ``wg show IFACE allowed-ips``."""
    keys: dict[str, str] = {}
    for line in allowed_ips_output.splitlines():
        fields = line.split()
        for address in fields[1:]:
            if address != "(none)":
                keys[address] = fields[0]
    return keys


def wireguard_keep_live_keys(
    peers: Iterable[Mapping[str, Any]], allowed_ips_output: str
) -> list[dict[str, Any]]:
    known = live_keys(allowed_ips_output or "")
    result = []
    for peer in peers:
        entry = dict(peer)
        if not entry.get("public_key"):
            addresses = list(entry.get("allowed_ips") or [])
            live = known.get(str(addresses[0]), "") if addresses else ""
            entry["public_key"] = live
            entry["kept_live"] = bool(live)
        result.append(entry)
    return result


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"wireguard_keep_live_keys": wireguard_keep_live_keys}
