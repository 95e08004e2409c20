"""Catalog problems: each names the file, the field path and the reason."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

#: problems listed per file; a file with more is surely not a catalog file at all
MAX_PROBLEMS_PER_FILE = 50
#: longest reason printed
MAX_REASON_CHARS = 300


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong (or worth a warning) in the catalog."""

    file: Path
    field: str
    reason: str
    line: int | None = None
    severity: Severity = Severity.ERROR

    def shown_file(self, relative_to: Path | None = None) -> Path:
        """The file, relative to ``relative_to`` when it lies below it."""
        if relative_to is not None and self.file.is_relative_to(relative_to):
            return self.file.relative_to(relative_to)
        return self.file

    def location(self, relative_to: Path | None = None) -> str:
        shown = self.shown_file(relative_to)
        return f"{shown}:{self.line}" if self.line is not None else str(shown)

    def render(self, relative_to: Path | None = None) -> str:
        field = f"{self.field}: " if self.field else ""
        prefix = "warning: " if self.severity is Severity.WARNING else ""
        reason = self.reason
        if len(reason) > MAX_REASON_CHARS:
            # a refused value may be echoed in the reason: never a line of kilobytes
            reason = f"{reason[:MAX_REASON_CHARS]}... ({len(reason)} characters)"
        return f"{self.location(relative_to)}: {prefix}{field}{reason}"

    def as_dict(self, relative_to: Path | None = None) -> dict[str, object]:
        return {
            "file": str(self.shown_file(relative_to)),
            "line": self.line,
            "field": self.field,
            "reason": self.reason,
            "severity": str(self.severity),
        }


class CatalogError(Exception):
    """Raised when the catalog cannot be used; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = _at_most_per_file(sorted(problems, key=_sort_key))
        super().__init__("\n".join(p.render() for p in self.problems))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity is Severity.ERROR]


def _sort_key(problem: Problem) -> tuple[str, int, str, str]:
    return (str(problem.file), problem.line or 0, problem.field, problem.reason)


def _at_most_per_file(problems: list[Problem]) -> list[Problem]:
    """Keep the first :data:`MAX_PROBLEMS_PER_FILE` problems of each file and one line
    saying how many more there are (``problems`` sorted by file)."""
    kept: list[Problem] = []
    count: dict[Path, int] = {}
    for problem in problems:
        seen = count[problem.file] = count.get(problem.file, 0) + 1
        if seen <= MAX_PROBLEMS_PER_FILE:
            kept.append(problem)
    for file, seen in count.items():
        if seen > MAX_PROBLEMS_PER_FILE:
            last = max(i for i, p in enumerate(kept) if p.file == file)
            more = Problem(file, "", f"... and {seen - MAX_PROBLEMS_PER_FILE} more problems")
            kept.insert(last + 1, more)
    return kept
