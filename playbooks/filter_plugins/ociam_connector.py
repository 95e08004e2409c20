"""Catalog to role variables for the connector path (hub.yml, connector.yml).

The hub needs every city's connector data; those live in the city groups'
variables (``inventories/<env>/group_vars/<city>.yml``), which Ansible gives
each connector host. ``ociam_hub_cities`` gathers them, one entry per city,
applying the same defaults as ``ociam.catalog.CityConfig`` (the Keycloak
side); tests/catalog/test_connector_consistency.py proves they agree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ansible.errors import AnsibleFilterError

LDAPS_PORT = 636


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


def hub_allowed_sources(connector: Mapping[str, Any], cluster: Mapping[str, Any]) -> list[str]:
    """Cluster sources allowed to a city's hub address (CityConfig.hub_allowed_sources)."""
    own = connector.get("allowed_sources")
    if own is not None:
        return [str(net) for net in own]
    return [str(net) for net in cluster.get("egress_cidrs", [])]


def ociam_hub_cities(
    groups: Mapping[str, Sequence[str]], hostvars: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """One entry per city that has a connector host and a ``connector:`` block.

    Each entry: ``name`` (slug), ``host``, ``peer`` (for wireguard_peers) and
    ``forward`` (for wireguard_hub_forwards). The peer's public key is the
    catalog's ``connector.wireguard_public_key``, else the ``wireguard_public_key``
    fact of the connector host when it ran earlier in this playbook run, else
    empty (the role leaves such a peer out and says so).
    """
    by_city: dict[str, list[str]] = {}
    for host in groups.get("cities", []):
        variables = hostvars[host]
        if "connector" not in variables or not variables["connector"]:
            continue
        slug = str(variables["city"]["slug"])
        by_city.setdefault(slug, []).append(str(host))
    cities = []
    for slug in sorted(by_city):
        hosts = by_city[slug]
        if len(hosts) > 1:
            raise AnsibleFilterError(
                f"city '{slug}' has {len(hosts)} connector hosts ({', '.join(hosts)}); "
                "its tunnel address can belong to one WireGuard peer only"
            )
        host = hosts[0]
        variables = hostvars[host]
        connector = _plain(variables["connector"])
        cluster = _plain(variables["cluster"])
        tunnel = str(connector["tunnel_address"])
        public_key = connector.get("wireguard_public_key") or variables.get(
            "wireguard_public_key", ""
        )
        cities.append(
            {
                "name": slug,
                "host": host,
                "peer": {
                    "name": slug,
                    "public_key": str(public_key or ""),
                    "allowed_ips": [f"{tunnel}/32"],
                },
                "forward": {
                    "name": slug,
                    "service_address": str(connector["hub_service_address"]),
                    "target_address": tunnel,
                    "allowed_sources": hub_allowed_sources(connector, cluster),
                    "port": LDAPS_PORT,
                    "target_port": LDAPS_PORT,
                },
            }
        )
    return cities


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"ociam_hub_cities": ociam_hub_cities}
