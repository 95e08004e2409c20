"""IPv4 tests (``x is wireguard_in_net(net)``) for the wireguard role, from the stdlib.

ansible.utils' ipaddr filters need netaddr on the controller; these do not.
"""

from __future__ import annotations

import ipaddress
from typing import Any


def _address(value: Any) -> ipaddress.IPv4Address | None:
    try:
        return ipaddress.IPv4Address(str(value))
    except ValueError:
        return None


def _network(value: Any) -> ipaddress.IPv4Network | None:
    text = str(value)
    if "/" not in text:
        return None
    try:
        return ipaddress.IPv4Network(text, strict=True)
    except ValueError:
        return None


def wireguard_is_ipv4(value: Any) -> bool:
    """True for a plain IPv4 address such as 172.20.0.11."""
    return _address(value) is not None


def wireguard_is_ipv4_net(value: Any) -> bool:
    """True for an IPv4 CIDR without host bits, such as 10.240.0.0/22."""
    return _network(value) is not None


def wireguard_in_net(address: Any, network: Any) -> bool:
    """True when the address is a usable host address of the network."""
    addr, net = _address(address), _network(network)
    if addr is None or net is None or addr not in net:
        return False
    return net.prefixlen >= 31 or addr not in (net.network_address, net.broadcast_address)


class TestModule:
    def tests(self) -> dict[str, Any]:
        return {
            "wireguard_is_ipv4": wireguard_is_ipv4,
            "wireguard_is_ipv4_net": wireguard_is_ipv4_net,
            "wireguard_in_net": wireguard_in_net,
        }
