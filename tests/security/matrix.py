"""The connectivity matrix of an environment, computed by netpol-analyzer.

``analysis_input`` writes what the analyzer reads: every city's Namespace and
NetworkPolicies as rendered, the pods its workloads run and the pods the platform
and Kubernetes run (tests/security/peers.py). ``city_matrix`` turns the analyzer's
answer into one city's matrix: the lines where one end is a pod of the city, with
pods named as the matrix names them (``keycloak``, ``keycloak-db``,
``<namespace>/<pod>`` outside the city), IP ranges merged into CIDRs
(``0.0.0.0/0 except ...`` where that is shorter), and the analyzer's exposure lines:
what a policy admits beyond the modelled pods, named by the analyzer's selector
(``monitoring/[all pods]``, ``[namespace with {team=x}]/[all pods]``, a selector in the
city's own namespace without it: ``[pod with {team=x}]``).

    .venv/bin/python -m tests.security.matrix ENV [CITY]

prints the computed matrix, for comparing with tests/security/expected_flows.yaml.
"""

from __future__ import annotations

import argparse
import ipaddress
import sys
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ociam.catalog import EnvironmentCatalog
from tests.realsys.netpol import Connection, connectivity, is_selector, selector_namespace
from tests.security.peers import Peer, city_peers, namespace_manifest, platform_peers

ALL = ipaddress.IPv4Network("0.0.0.0/0")
PEER_FILE = "runtime-pods.yaml"


@dataclass(frozen=True)
class Analysis:
    """The analyzer's connections over one environment, its exposure analysis (what
    the policies admit from or to pods the input does not have) and the pods it saw."""

    env: str
    connections: tuple[Connection, ...]
    exposure: tuple[Connection, ...]
    peers: tuple[Peer, ...]

    def peer(self, label: str) -> Peer | None:
        """The pod behind an analyzer peer label ``ns/pod[Pod]`` (None: an IP range)."""
        if is_selector(label):
            raise ValueError(f"a selector of the exposure analysis, not a pod: {label}")
        if "/" not in label:
            return None
        namespace, rest = label.split("/", 1)
        pod = rest.split("[", 1)[0]
        for candidate in self.peers:
            if candidate.namespace == namespace and candidate.pod == pod:
                return candidate
        raise KeyError(f"the analyzer names a pod the input does not have: {label}")


def analysis_input(
    catalog: EnvironmentCatalog, renders: Mapping[str, Sequence[dict[str, Any]]], target: Path
) -> list[Peer]:
    """Write one environment's analyzer input into ``target``; returns its pods."""
    target.mkdir(parents=True, exist_ok=True)
    peers = platform_peers(catalog.settings)
    for slug, objects in sorted(renders.items()):
        policies = [o for o in objects if o["kind"] in {"Namespace", "NetworkPolicy"}]
        pods = city_peers(objects)
        peers += pods
        documents = policies + [p.manifest() for p in pods]
        (target / f"{slug}.yaml").write_text(
            yaml.safe_dump_all(documents, sort_keys=True), encoding="utf-8"
        )
    city_namespaces = {p.namespace for p in peers if p.namespace.startswith("iam-")}
    others = sorted({p.namespace for p in peers} - city_namespaces)
    documents = [namespace_manifest(ns) for ns in others]
    documents += [p.manifest() for p in peers if p.namespace in others]
    (target / PEER_FILE).write_text(yaml.safe_dump_all(documents, sort_keys=True), "utf-8")
    return peers


def analyze(
    catalog: EnvironmentCatalog,
    renders: Mapping[str, Sequence[dict[str, Any]]],
    work: Path | None = None,
) -> Analysis:
    """Run the analyzer over one environment's renders."""
    with tempfile.TemporaryDirectory(prefix="ociam-netpol-") as scratch:
        target = work or Path(scratch)
        peers = analysis_input(catalog, renders, target)
        found = connectivity(target)
    return Analysis(catalog.name, found.connections, found.exposure, tuple(peers))


def _range(label: str) -> list[ipaddress.IPv4Network]:
    first, last = label.split("-", 1)
    return list(
        ipaddress.summarize_address_range(ipaddress.IPv4Address(first), ipaddress.IPv4Address(last))
    )


def cidrs(labels: Iterable[str]) -> str:
    """IP ranges ``a-b`` as the shorter of a CIDR list and ``0.0.0.0/0 except ...``."""
    nets = list(ipaddress.collapse_addresses(n for label in labels for n in _range(label)))
    rest: list[ipaddress.IPv4Network] = [ALL]
    for net in nets:
        rest = [
            piece for r in rest for piece in (r.address_exclude(net) if net.subnet_of(r) else [r])
        ]
    outside = list(ipaddress.collapse_addresses(rest))
    if not outside:
        return str(ALL)
    if len(outside) < len(nets):
        return f"{ALL} except {','.join(str(n) for n in outside)}"
    return ",".join(str(n) for n in nets)


def _name(analysis: Analysis, label: str, namespace: str) -> str:
    if is_selector(label):
        inside = selector_namespace(label) == namespace
        return label.split("/", 1)[1] if inside else label
    peer = analysis.peer(label)
    if peer is None:
        return label
    return peer.name if peer.namespace == namespace else f"{peer.namespace}/{peer.pod}"


def city_matrix(analysis: Analysis, namespace: str) -> list[str]:
    """The lines of ``analysis`` (connections and exposure) with a pod of ``namespace``
    at one end, as matrix lines ``src -> dst : conn`` (sorted, no duplicates)."""
    lines: set[str] = set()
    ranges: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for connection in analysis.connections + analysis.exposure:
        ends = tuple(
            None if is_selector(end) else analysis.peer(end)
            for end in (connection.src, connection.dst)
        )
        if not any(p is not None and p.namespace == namespace for p in ends):
            continue
        src = _name(analysis, connection.src, namespace)
        dst = _name(analysis, connection.dst, namespace)
        if ends[0] is None and not is_selector(connection.src):
            ranges[("in", dst, connection.conn)].append(connection.src)
        elif ends[1] is None and not is_selector(connection.dst):
            ranges[("out", src, connection.conn)].append(connection.dst)
        else:
            lines.add(f"{src} -> {dst} : {connection.conn}")
    for (direction, peer, conn), labels in ranges.items():
        block = cidrs(labels)
        lines.add(
            f"{block} -> {peer} : {conn}" if direction == "in" else f"{peer} -> {block} : {conn}"
        )
    return sorted(lines)


def main(argv: Sequence[str] | None = None) -> int:
    from ociam.catalog import load_environment
    from ociam.engines.offline import OfflineEngine
    from ociam.render.service import render_city
    from tests.security.seed import PROJECT_ROOT

    parser = argparse.ArgumentParser(prog="python -m tests.security.matrix")
    parser.add_argument("env")
    parser.add_argument("city", nargs="?")
    args = parser.parse_args(argv)
    catalog = load_environment(PROJECT_ROOT, args.env)
    engine = OfflineEngine(PROJECT_ROOT)
    renders = {
        slug: render_city(engine, catalog.city(slug)).objects for slug in sorted(catalog.cities)
    }
    analysis = analyze(catalog, renders)
    for slug in [args.city] if args.city else sorted(catalog.cities):
        print(f"{args.env}/{slug}:")
        for line in city_matrix(analysis, catalog.city(slug).namespace):
            print(f"  - {line!r}" if ":" in line else f"  - {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
