"""Expected connectivity as data, and how an analysis is held to it."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

EXPECTED_FILE = Path(__file__).with_name("expected_flows.yaml")
_ITEM = re.compile(r"(TCP|UDP|SCTP) (.+)")


def load_expected(path: Path = EXPECTED_FILE) -> dict[str, dict[str, list[str]]]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return {
        env: {city: list(lines) for city, lines in cities.items()} for env, cities in data.items()
    }


def matrix_problems(expected: list[str], actual: list[str]) -> list[str]:
    """What differs, one line each: flows the render opens that the data lacks, and flows
    the data has that the render closes."""
    opened = sorted(set(actual) - set(expected))
    closed = sorted(set(expected) - set(actual))
    return [f"opened (not in expected data): {line}" for line in opened] + [
        f"closed (expected data has it): {line}" for line in closed
    ]


def assert_matrix(label: str, expected: list[str], actual: list[str]) -> None:
    problems = matrix_problems(expected, actual)
    assert not problems, (
        f"{label}: the analyzer's connectivity differs from "
        f"{EXPECTED_FILE.name}; if the change is intended, change the data with it:\n  "
        + "\n  ".join(problems)
    )


def allows(conn: str, protocol: str, port: int) -> bool:
    """Whether the analyzer's connection set (``TCP 53,UDP 53``, ``TCP 1-65535``,
    ``All Connections``) includes ``protocol`` ``port``."""
    if conn == "All Connections":
        return True
    if conn == "No Connections":
        return False
    current = ""
    for item in conn.split(","):
        ports = item.strip()
        match = _ITEM.fullmatch(ports)
        if match is not None:
            current, ports = match.group(1), match.group(2)
        if current != protocol:
            continue
        low, _, high = ports.strip().partition("-")
        if int(low) <= port <= int(high or low):
            return True
    return False
