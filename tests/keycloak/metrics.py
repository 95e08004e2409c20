"""Prometheus: the text exposition format Keycloak serves, and the selectors rules use."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import promql_parser
import requests

_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>.*)\})?\s+(?P<value>\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True)
class Sample:
    name: str
    labels: dict[str, str]
    value: float


def parse_exposition(text: str) -> list[Sample]:
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = _SAMPLE.match(line)
        if match is None:
            raise ValueError(f"not a Prometheus sample line: {line!r}")
        labels = dict(_LABEL.findall(match["labels"] or ""))
        samples.append(Sample(match["name"], labels, float(match["value"])))
    return samples


def scrape(ip: str, port: int, path: str = "/metrics") -> list[Sample]:
    response = requests.get(f"http://{ip}:{port}{path}", timeout=30)
    response.raise_for_status()
    return parse_exposition(response.text)


@dataclass(frozen=True)
class Selector:
    """A vector selector of a PromQL expression: metric name and label matchers."""

    name: str
    #: (label, operator, value), operator one of = != =~ !~
    matchers: tuple[tuple[str, str, str], ...]

    def matches(self, sample: Sample, ignore: frozenset[str] = frozenset()) -> bool:
        if sample.name != self.name:
            return False
        for label, op, value in self.matchers:
            if label in ignore:
                continue
            actual = sample.labels.get(label, "")
            ok = {
                "=": actual == value,
                "!=": actual != value,
                "=~": re.fullmatch(value, actual) is not None,
                "!~": re.fullmatch(value, actual) is None,
            }[op]
            if not ok:
                return False
        return True


_OPS = {
    str(promql_parser.MatchOp.Equal): "=",
    str(promql_parser.MatchOp.NotEqual): "!=",
    str(promql_parser.MatchOp.Re): "=~",
    str(promql_parser.MatchOp.NotRe): "!~",
}


def _children(node: Any) -> Iterator[Any]:
    for attribute in ("lhs", "rhs", "expr", "param", "vector_selector"):
        child = getattr(node, attribute, None)
        if child is not None and not isinstance(child, str | int | float):
            yield child
    for child in getattr(node, "args", None) or []:
        yield child


def selectors(expression: str) -> list[Selector]:
    """Every vector selector of ``expression``, parsed by a real PromQL parser."""
    found = []
    pending = [promql_parser.parse(expression)]
    while pending:
        node = pending.pop()
        if isinstance(node, promql_parser.VectorSelector):
            matchers = tuple(
                (m.name, _OPS[str(m.op)], m.value)
                for m in node.matchers.matchers
                if m.name != "__name__"
            )
            if not node.name:
                raise ValueError(f"selector without a metric name in {expression!r}")
            found.append(Selector(node.name, matchers))
        else:
            pending.extend(_children(node))
    return found
