"""np-guard's netpol-analyzer over a directory of manifests: who may connect to whom.

``connectivity(directory)`` runs ``netpolicy list --dirpath DIR --exposure -o json``
(the binary tests/realsys/toolchain.py builds) and returns its answer as it is:

- ``connections``: one record per (source, destination) with the allowed
  connections, where a peer is ``<namespace>/<name>[<kind>]`` or an IPv4 range
  ``a.b.c.d-e.f.g.h``;
- ``exposure``: what the policies admit beyond the pods in the input, one record per
  workload and selector, where the selector end is ``<namespace>/[all pods]``,
  ``<namespace>/[pod with {k=v}]``, ``[namespace with {k=v}]/[...]``,
  ``[all namespaces]/[...]`` or ``entire-cluster`` (a rule admitting a namespace with
  no pod in the input, or a pod label no pod carries, shows only here), or an IPv4
  range as above.

The analyzer evaluates NetworkPolicy semantics itself (selectors, namespaces,
ipBlocks with ``except``, ports, both directions); nothing here interprets a policy.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.realsys.rootfs import BuildError
from tests.realsys.toolchain import require_tool

ANALYZER = "netpolicy"
#: the analyzer's name for every pod of every namespace (exposure analysis)
ENTIRE_CLUSTER = "entire-cluster"


@dataclass(frozen=True, order=True)
class Connection:
    """One line of the analyzer's list: ``src => dst : conn``."""

    src: str
    dst: str
    conn: str

    def __str__(self) -> str:
        return f"{self.src} => {self.dst} : {self.conn}"


@dataclass(frozen=True)
class Connectivity:
    """The analyzer's connection list and its exposure analysis of one directory."""

    connections: tuple[Connection, ...]
    exposure: tuple[Connection, ...]


def is_selector(label: str) -> bool:
    """Whether an analyzer peer label stands for pods by selector (exposure analysis),
    not for one pod of the input or an IP range."""
    return label == ENTIRE_CLUSTER or label.startswith("[") or "/[" in label


def selector_namespace(label: str) -> str | None:
    """The one namespace a selector label is confined to (None: any namespace)."""
    if label == ENTIRE_CLUSTER or label.startswith("["):
        return None
    return label.split("/", 1)[0]


def analyzer() -> Path:
    """The built analyzer, or a failure saying how to build it."""
    return require_tool(ANALYZER)


def _records(items: list[dict[str, Any]] | None) -> tuple[Connection, ...]:
    return tuple(sorted(Connection(r["src"], r["dst"], r["conn"]) for r in items or []))


def connectivity(directory: Path, binary: Path | None = None) -> Connectivity:
    """Every allowed connection between the workloads and IP ranges of ``directory``,
    and every one its policies admit from or to pods the directory does not have."""
    command = [
        str(binary or analyzer()),
        "list",
        "--dirpath",
        str(directory),
        "--exposure",
        "-o",
        "json",
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0 or result.stderr.strip():
        # a warning means the analyzer skipped or guessed something (an unsupported field,
        # a named port it cannot resolve): its answer would not be the cluster's
        raise BuildError(
            f"{' '.join(command)} exited {result.returncode} and reported:\n{result.stderr[-4000:]}"
        )
    report: dict[str, Any] = json.loads(result.stdout or "{}")
    exposure: dict[str, Any] = report.get("exposure_results") or {}
    return Connectivity(
        _records(report.get("connlist_results")),
        _records(exposure.get("ingress_exposure")) + _records(exposure.get("egress_exposure")),
    )
