# Copyright: ociam consortium platform team
# License: EUPL-1.2
"""Address filters for the hardening role, on the standard library only.

ansible.utils' ipaddr filters need netaddr on the controller; these need
nothing beyond Python.
"""

from __future__ import annotations

import ipaddress

from ansible.errors import AnsibleFilterError


def _networks(cidrs, what):
    if isinstance(cidrs, str) or not isinstance(cidrs, (list, tuple)):
        raise AnsibleFilterError(f"{what}: expected a list of CIDRs, got {cidrs!r}")
    result = []
    for cidr in cidrs:
        try:
            result.append(ipaddress.ip_network(str(cidr).strip(), strict=False))
        except ValueError as exc:
            raise AnsibleFilterError(
                f"{what}: {cidr!r} is not an IP address or CIDR ({exc})"
            ) from exc
    return result


def hardening_split_networks(cidrs, what="address list"):
    """Split CIDRs into {'ipv4': [...], 'ipv6': [...]}, normalised (host bits cleared)."""
    split = {"ipv4": [], "ipv6": []}
    for net in _networks(cidrs, what):
        key = "ipv4" if net.version == 4 else "ipv6"
        if str(net) not in split[key]:
            split[key].append(str(net))
    return split


def hardening_ip_in_networks(address, cidrs, what="address list"):
    """True when address (IPv4, IPv6 or IPv4-mapped IPv6) lies in one of cidrs."""
    try:
        ip = ipaddress.ip_address(str(address).split("%")[0])
    except ValueError as exc:
        raise AnsibleFilterError(f"{address!r} is not an IP address ({exc})") from exc
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return any(ip.version == net.version and ip in net for net in _networks(cidrs, what))


class FilterModule:
    def filters(self):
        return {
            "hardening_split_networks": hardening_split_networks,
            "hardening_ip_in_networks": hardening_ip_in_networks,
        }
