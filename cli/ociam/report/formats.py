"""The report as a table (people), JSON (machines), CSV (spreadsheets) and Markdown (memos).

Units: CPU in vCPU (cores), memory and storage in GiB (2^30 bytes), money per
month in the environment's currency. JSON keeps exact integers (millicores,
bytes) and money as numbers with two decimals.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from ociam.console import format_table
from ociam.report.build import CityReport, EnvReport, Report, Totals
from ociam.report.capacity import Resources
from ociam.report.cost import Bill
from ociam.report.quantity import GIB

UNBOUNDED = "unbounded"
NOTES = (
    "CPU in vCPU, memory and storage in GiB (2^30 bytes). CPU and MEMORY: requests/limits "
    "of the long-running pods (Keycloak; PostgreSQL with its backup sidecar), as the render "
    "sets them. JOBS: requests of the realm configuration Jobs, which run to completion "
    "and are not billed. DATABASE: instances x volume size."
)


def vcpu(millicores: int | None) -> str:
    if millicores is None:
        return UNBOUNDED
    return f"{Decimal(millicores) / 1000:.3f}".rstrip("0").rstrip(".")


def gib(size: int | None) -> str:
    return UNBOUNDED if size is None else f"{Decimal(size) / GIB:.2f}"


def money(amount: Decimal) -> str:
    """Thousands separated by a space, as in Finnish and Swedish: 12 345.67."""
    return f"{amount:,.2f}".replace(",", " ")


def percent(part: int, whole: int) -> str:
    return f"{Decimal(100 * part) / whole:.1f}" if whole else "0.0"


def _database(city: CityReport) -> str:
    cap = city.capacity
    if not cap.database_instances:
        return "external"
    per_instance = cap.database_storage_bytes // cap.database_instances
    return f"{cap.database_instances} x {gib(per_instance)}"


def _cells(resources: Resources) -> tuple[str, str]:
    return (
        f"{vcpu(resources.cpu_requests_m)}/{vcpu(resources.cpu_limits_m)}",
        f"{gib(resources.memory_requests)}/{gib(resources.memory_limits)}",
    )


HEADERS = [
    "CITY",
    "KEYCLOAK",
    "CPU REQ/LIM",
    "MEMORY REQ/LIM",
    "JOBS CPU/MEM",
    "DATABASE",
    "BACKUP",
    "REALMS",
    "APPS",
    "BROKERS",
    "USAGE",
    "SHARE/MONTH",
]


def _row(
    label: str, totals: Totals | None, city: CityReport | None, bill: Bill | None
) -> list[str]:
    if city is not None:
        cap = city.capacity
        cpu, memory = _cells(cap.long_running)
        jobs = cap.jobs
        figures = [
            str(cap.keycloak_replicas),
            cpu,
            memory,
            f"{vcpu(jobs.cpu_requests_m)}/{gib(jobs.memory_requests)}",
            _database(city),
            cap.backup_retention or "-",
            str(len(cap.realms)),
            str(cap.applications),
            str(cap.identity_brokers),
        ]
        cost = (
            [money(city.bill.usage), f"{money(city.bill.share)} ({_share_percent(city, bill)}%)"]
            if city.bill is not None and bill is not None
            else ["-", "-"]
        )
        return [label, *figures, *cost]
    assert totals is not None
    cpu, memory = _cells(totals.long_running)
    figures = [
        str(totals.keycloak_replicas),
        cpu,
        memory,
        f"{vcpu(totals.jobs.cpu_requests_m)}/{gib(totals.jobs.memory_requests)}",
        f"{totals.database_instances} ({gib(totals.database_storage_bytes)})",
        "",
        str(totals.realms),
        str(totals.applications),
        str(totals.identity_brokers),
    ]
    cost = [money(bill.usage_total), money(bill.total)] if bill is not None else ["-", "-"]
    return [label, *figures, *cost]


def _share_percent(city: CityReport, bill: Bill | None) -> str:
    if city.bill is None or bill is None:
        return "-"
    return percent(city.bill.share_cents, bill.total_cents)


def _env_lines(env: EnvReport) -> list[str]:
    lines = [f"{env.env}: {len(env.cities)} cities"]
    if env.bill is None:
        lines.append("no price list (cost: in group_vars/all.yml): no cost computed")
    else:
        lines.append(f"split {env.bill.describe()}")
        lines.append(f"prices: {env.bill.prices.describe()}")
        lines.append(
            f"total {money(env.bill.total)} {env.bill.prices.currency} per month = usage "
            f"{money(env.bill.usage_total)} + platform {money(env.bill.prices.platform_month)}"
        )
    return lines


def table(report: Report) -> str:
    out: list[str] = []
    for env in report.environments:
        out.extend(_env_lines(env))
        rows = [_row(c.capacity.slug, None, c, env.bill) for c in env.cities]
        rows.append(_row("TOTAL", env.totals, None, env.bill))
        out.extend(["", format_table(HEADERS, rows), ""])
    if len(report.environments) > 1:
        totals = report.totals
        cpu, memory = _cells(totals.long_running)
        costs = ", ".join(f"{money(v)} {k}" for k, v in report.cost_totals().items()) or "-"
        out.append(
            f"all environments: {totals.cities} cities, {totals.keycloak_replicas} Keycloak "
            f"pods, CPU {cpu}, memory {memory} GiB, {totals.database_instances} database "
            f"instances ({gib(totals.database_storage_bytes)} GiB), {totals.applications} "
            f"applications, {totals.identity_brokers} identity brokers; total {costs} per month"
        )
        out.append("")
    out.append(NOTES)
    return "\n".join(out) + "\n"


def markdown(report: Report) -> str:
    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out: list[str] = []
    for env in report.environments:
        out.append(f"## {env.env}")
        out.append("")
        out.extend(f"- {text}" for text in _env_lines(env)[1:])
        out.append("")
        out.append(line(["CITY", "NAME", *HEADERS[1:]]))
        out.append(line(["---"] * (len(HEADERS) + 1)))
        for city in env.cities:
            row = _row(city.capacity.slug, None, city, env.bill)
            out.append(line([row[0], city.name, *row[1:]]))
        totals = _row("**total**", env.totals, None, env.bill)
        out.append(line([totals[0], "", *totals[1:]]))
        out.append("")
    if len(report.environments) > 1:
        costs = ", ".join(f"{money(v)} {k}" for k, v in report.cost_totals().items()) or "-"
        out.append(f"**All environments:** {report.totals.cities} cities, total {costs} per month.")
        out.append("")
    out.append(f"_{NOTES}_")
    return "\n".join(out) + "\n"


def _number(amount: Decimal) -> float:
    return float(amount.quantize(Decimal("0.01")))


def _totals_json(totals: Totals) -> dict[str, Any]:
    return {
        "cities": totals.cities,
        "keycloak_replicas": totals.keycloak_replicas,
        "long_running": totals.long_running.as_dict(),
        "jobs": totals.jobs.as_dict(),
        "storage_bytes": totals.storage_bytes,
        "database_instances": totals.database_instances,
        "database_storage_bytes": totals.database_storage_bytes,
        "realms": totals.realms,
        "applications": totals.applications,
        "identity_brokers": totals.identity_brokers,
    }


def _bill_json(bill: Bill) -> dict[str, Any]:
    prices = bill.prices
    return {
        "currency": prices.currency,
        "split": bill.rule,
        "rule": bill.describe(),
        "prices": {
            "vcpu_month": _number(prices.vcpu_month),
            "memory_gib_month": _number(prices.memory_gib_month),
            "storage_gib_month": _number(prices.storage_gib_month),
            "platform_month": _number(prices.platform_month),
        },
        "usage_month": _number(bill.usage_total),
        "total_month": _number(bill.total),
    }


def _city_json(city: CityReport, bill: Bill | None) -> dict[str, Any]:
    cap = city.capacity
    data: dict[str, Any] = {
        "city": cap.slug,
        "name": city.name,
        "stack": city.stack,
        "keycloak_replicas": cap.keycloak_replicas,
        "long_running": cap.long_running.as_dict(),
        "jobs": cap.jobs.as_dict(),
        "storage_bytes": cap.storage_bytes,
        "database": {
            "instances": cap.database_instances,
            "storage_bytes": cap.database_storage_bytes,
        },
        "backup": {"retention": cap.backup_retention, "schedule": cap.backup_schedule},
        "realms": [r.as_dict() for r in cap.realms],
        "applications": cap.applications,
        "identity_brokers": cap.identity_brokers,
        "workloads": [w.as_dict() for w in cap.workloads],
        "cost": None,
    }
    if city.bill is not None and bill is not None:
        data["cost"] = {
            "usage_month": _number(city.bill.usage),
            "weight": float(city.bill.weight),
            "share_month": _number(city.bill.share),
            "share_percent": float(percent(city.bill.share_cents, bill.total_cents)),
        }
    return data


def as_json(report: Report) -> dict[str, Any]:
    return {
        "environments": [
            {
                "env": env.env,
                "cost": _bill_json(env.bill) if env.bill else None,
                "cities": [_city_json(c, env.bill) for c in env.cities],
                "totals": _totals_json(env.totals),
            }
            for env in report.environments
        ],
        "totals": {
            **_totals_json(report.totals),
            "cost_month": {k: _number(v) for k, v in report.cost_totals().items()},
        },
        "notes": NOTES,
    }


CSV_FIELDS = [
    "env",
    "city",
    "name",
    "keycloak_replicas",
    "cpu_requests_vcpu",
    "cpu_limits_vcpu",
    "memory_requests_gib",
    "memory_limits_gib",
    "job_cpu_requests_vcpu",
    "job_memory_requests_gib",
    "database_instances",
    "database_storage_gib",
    "storage_gib",
    "backup_retention",
    "realms",
    "applications",
    "identity_brokers",
    "currency",
    "split_rule",
    "price_vcpu_month",
    "price_memory_gib_month",
    "price_storage_gib_month",
    "platform_month",
    "usage_month",
    "share_month",
]


def _csv_figures(totals: Totals) -> dict[str, str]:
    return {
        "keycloak_replicas": str(totals.keycloak_replicas),
        "cpu_requests_vcpu": vcpu(totals.long_running.cpu_requests_m),
        "cpu_limits_vcpu": vcpu(totals.long_running.cpu_limits_m),
        "memory_requests_gib": gib(totals.long_running.memory_requests),
        "memory_limits_gib": gib(totals.long_running.memory_limits),
        "job_cpu_requests_vcpu": vcpu(totals.jobs.cpu_requests_m),
        "job_memory_requests_gib": gib(totals.jobs.memory_requests),
        "database_instances": str(totals.database_instances),
        "database_storage_gib": gib(totals.database_storage_bytes),
        "storage_gib": gib(totals.storage_bytes),
        "applications": str(totals.applications),
        "identity_brokers": str(totals.identity_brokers),
    }


def _csv_prices(bill: Bill | None) -> dict[str, str]:
    if bill is None:
        return {}
    p = bill.prices
    return {
        "currency": p.currency,
        "split_rule": bill.rule,
        "price_vcpu_month": f"{p.vcpu_month:.2f}",
        "price_memory_gib_month": f"{p.memory_gib_month:.2f}",
        "price_storage_gib_month": f"{p.storage_gib_month:.2f}",
        "platform_month": f"{p.platform_month:.2f}",
    }


def as_csv(report: Report) -> str:
    """One row per city, a TOTAL row per environment and one over all of them."""
    stream = io.StringIO()
    writer = csv.DictWriter(stream, fieldnames=CSV_FIELDS, lineterminator="\n")
    writer.writeheader()
    for env in report.environments:
        for city in env.cities:
            cap = city.capacity
            row = {
                "env": env.env,
                "city": cap.slug,
                "name": city.name,
                **_csv_figures(Totals.of([cap])),
                "backup_retention": cap.backup_retention or "",
                "realms": ";".join(r.name for r in cap.realms),
                **_csv_prices(env.bill),
            }
            if city.bill is not None:
                row["usage_month"] = f"{city.bill.usage:.2f}"
                row["share_month"] = f"{city.bill.share:.2f}"
            writer.writerow(row)
        row = {"env": env.env, "city": "TOTAL", **_csv_figures(env.totals)}
        row["realms"] = str(env.totals.realms)
        row.update(_csv_prices(env.bill))
        if env.bill is not None:
            row["usage_month"] = f"{env.bill.usage_total:.2f}"
            row["share_month"] = f"{env.bill.total:.2f}"
        writer.writerow(row)
    if len(report.environments) > 1:
        row = {"env": "all", "city": "TOTAL", **_csv_figures(report.totals)}
        row["realms"] = str(report.totals.realms)
        costs = report.cost_totals()
        if len(costs) == 1:
            (currency, amount), *_ = costs.items()
            row.update(currency=currency, share_month=f"{amount:.2f}")
        writer.writerow(row)
    return stream.getvalue()
