"""What the CLI prints: tables for people, JSON for machines, problems on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, TextIO

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


def print_json(data: Any, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout
    json.dump(data, stream, indent=2, ensure_ascii=False, sort_keys=False)
    stream.write("\n")


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(h) for h in headers], *[["" if c is None else str(c) for c in r] for r in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def print_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    sys.stdout.write(format_table(headers, rows) + "\n")


def error(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")


def info(message: str) -> None:
    sys.stderr.write(f"{message}\n")


def print_problems(problems: Sequence[Any], root: Path, stream: TextIO | None = None) -> None:
    """Print catalog Problems, one per line, paths relative to the checkout."""
    stream = stream or sys.stderr
    for problem in problems:
        stream.write(problem.render(relative_to=root) + "\n")
