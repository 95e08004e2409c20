"""Extra files a program publishes for ``ociam render`` (e.g. realm JSON).

A component calls ``publish("realms/employees.json", text)``. The offline engine
collects what a run publishes and returns it as ``PreviewResult.artifacts``;
under the real Pulumi engine nothing collects and ``publish`` does nothing.
Artifacts must never hold a secret: the offline engine checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ociam.engines.base import Artifact

_SINK: ContextVar[list[Artifact] | None] = ContextVar("ociam_artifacts", default=None)


def publish(path: str, content: str) -> None:
    """Publish one file of the city's render; ``path`` is relative, ``/``-separated."""
    if path.startswith("/") or ".." in path.split("/") or "\\" in path:
        raise ValueError(f"artifact path '{path}' must be relative, without '..'")
    sink = _SINK.get()
    if sink is not None:
        sink.append(Artifact(path, content))


@contextmanager
def collecting() -> Iterator[list[Artifact]]:
    """Collect what is published in this context (and tasks started from it)."""
    sink: list[Artifact] = []
    token = _SINK.set(sink)
    try:
        yield sink
    finally:
        _SINK.reset(token)
