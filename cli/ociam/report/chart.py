"""The steering group's chart: each city's share of the bill, in its currency per month.

One horizontal bar per city, largest first, the city's name on the left and the
amount at the end of the bar; with several environments each bar is stacked by
environment and labelled with the city's total. The rule and the prices are
printed under the chart. SVG keeps its text as text (searchable, and checked by
the tests); files are deterministic (no creation date, fixed element ids).
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import matplotlib as mpl
from matplotlib.figure import Figure

from ociam.report.build import Report
from ociam.report.formats import money

FORMATS = ("png", "svg")
#: colour-blind safe (Okabe-Ito), one per environment
COLOURS = {"prod": "#0072B2", "staging": "#E69F00", "dev": "#009E73"}


class ChartError(ValueError):
    """The chart cannot be drawn (unknown file type, no prices)."""


@dataclass(frozen=True)
class Bar:
    """One city: its name and its share in each environment."""

    label: str
    shares: dict[str, Decimal]

    @property
    def total(self) -> Decimal:
        return sum(self.shares.values(), Decimal(0))


def bars(report: Report) -> tuple[list[Bar], str]:
    """The bars, largest first, and the currency (one currency per chart)."""
    currencies = {e.bill.prices.currency for e in report.environments if e.bill is not None}
    if not currencies:
        raise ChartError("no environment has a price list (cost: in group_vars/all.yml)")
    if len(currencies) > 1:
        raise ChartError(f"environments use different currencies: {', '.join(sorted(currencies))}")
    by_city: dict[str, Bar] = {}
    for env in report.environments:
        for city in env.cities:
            if city.bill is None:
                continue
            bar = by_city.setdefault(city.capacity.slug, Bar(city.name, {}))
            bar.shares[env.env] = city.bill.share
    ordered = sorted(by_city.values(), key=lambda b: (-b.total, b.label))
    return ordered, currencies.pop()


def _caption(report: Report) -> str:
    """One line per environment: its total, the rule and the prices."""
    lines = []
    for env in report.environments:
        if env.bill is None:
            continue
        p, c = env.bill.prices, env.bill.prices.currency
        lines.append(
            f"{env.env}: total {money(env.bill.total)} {c}/month, split {env.bill.rule}; "
            f"prices per month: {p.vcpu_month:.2f} {c}/vCPU, {p.memory_gib_month:.2f} {c}/GiB "
            f"memory, {p.storage_gib_month:.2f} {c}/GiB storage (requests), platform "
            f"{money(p.platform_month)} {c}"
        )
    return "\n".join(lines)


def figure(report: Report) -> Figure:
    """The chart as a matplotlib Figure (no pyplot: no global state, no display)."""
    items, currency = bars(report)
    unit = "€" if currency == "EUR" else currency
    envs = [e.env for e in report.environments if e.bill is not None]
    height = 1.6 + 0.42 * len(items) + 0.2 * len(envs)
    fig = Figure(figsize=(10, height), layout="constrained")
    axes = fig.add_subplot()
    positions = list(range(len(items)))[::-1]
    left = [0.0] * len(items)
    for env in envs:
        widths = [float(b.shares.get(env, Decimal(0))) for b in items]
        axes.barh(positions, widths, left=left, color=COLOURS.get(env, "#777777"), label=env)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    largest = max((float(b.total) for b in items), default=0.0) or 1.0
    for position, bar in zip(positions, items, strict=True):
        axes.text(
            float(bar.total) + largest * 0.01,
            position,
            f"{money(bar.total)} {unit}",
            va="center",
            fontsize=11,
        )
    axes.set_yticks(positions, [b.label for b in items], fontsize=12)
    axes.set_xlim(0, largest * 1.22)
    axes.set_xlabel(f"{currency} per month")
    axes.spines[["top", "right"]].set_visible(False)
    axes.grid(axis="x", alpha=0.3)
    title = f"Each city's share of the IAM platform, {unit} per month ({', '.join(envs)})"
    axes.set_title(title, fontsize=14, loc="left")
    if len(envs) > 1:
        axes.legend(title="environment", loc="lower right", frameon=False)
    fig.supxlabel(_caption(report), fontsize=8, x=0.01, ha="left", linespacing=1.5)
    return fig


def chart_format(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise ChartError(f"{path}: the chart is written as .png or .svg, not '{path.suffix}'")
    return suffix


def render_chart(report: Report, kind: str) -> bytes:
    """The chart file's content, deterministic for a given report."""
    with mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "ociam-report"}):
        buffer = io.BytesIO()
        metadata = {"Date": None} if kind == "svg" else {"Software": None}
        figure(report).savefig(buffer, format=kind, dpi=150, metadata=metadata)
    return buffer.getvalue()


def write_chart(report: Report, path: Path) -> None:
    """Write the chart beside its target and rename it in place (never half a file)."""
    content = render_chart(report, chart_format(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        f.write(content)
    staged = Path(f.name)
    try:
        staged.chmod(0o644)
        staged.replace(path)
    finally:
        staged.unlink(missing_ok=True)
