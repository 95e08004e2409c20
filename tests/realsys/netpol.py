"""np-guard's netpol-analyzer over a directory of manifests: who may connect to whom.

``connections(directory)`` runs ``netpolicy list --dirpath DIR -o json`` (the binary
tests/realsys/toolchain.py builds) and returns its connection list as it is: one
record per (source, destination) with the allowed connections, where a peer is
``<namespace>/<name>[<kind>]`` or an IPv4 range ``a.b.c.d-e.f.g.h``. The analyzer
evaluates NetworkPolicy semantics itself (selectors, namespaces, ipBlocks with
``except``, ports, both directions); nothing here interprets a policy.
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


@dataclass(frozen=True, order=True)
class Connection:
    """One line of the analyzer's list: ``src => dst : conn``."""

    src: str
    dst: str
    conn: str

    def __str__(self) -> str:
        return f"{self.src} => {self.dst} : {self.conn}"


def analyzer() -> Path:
    """The built analyzer, or a failure saying how to build it."""
    return require_tool(ANALYZER)


def connections(directory: Path, binary: Path | None = None) -> list[Connection]:
    """Every allowed connection between the workloads and IP ranges of ``directory``."""
    command = [str(binary or analyzer()), "list", "--dirpath", str(directory), "-o", "json"]
    result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=300)
    if result.returncode != 0 or result.stderr.strip():
        # a warning means the analyzer skipped or guessed something (an unsupported field,
        # a named port it cannot resolve): its answer would not be the cluster's
        raise BuildError(
            f"{' '.join(command)} exited {result.returncode} and reported:\n{result.stderr[-4000:]}"
        )
    records: list[dict[str, Any]] = json.loads(result.stdout or "[]")
    return sorted(Connection(r["src"], r["dst"], r["conn"]) for r in records)
