"""One report over one or more environments: each city, each environment's totals and bill,
and the totals over all environments reported."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ociam.catalog import CityConfig, EnvironmentCatalog
from ociam.catalog.environment import SplitRule
from ociam.report.capacity import CityCapacity, Resources, city_capacity, total
from ociam.report.cost import Bill, CityBill, Prices, split
from ociam.report.source import RenderedSource


def display_name(city: CityConfig) -> str:
    names = city.spec.city.names
    return f"{names.fi} / {names.sv}" if names.sv else names.fi


@dataclass(frozen=True)
class CityReport:
    capacity: CityCapacity
    name: str
    stack: str
    source: Path
    bill: CityBill | None


@dataclass(frozen=True)
class Totals:
    """Sums over cities (of one environment or of all)."""

    cities: int
    keycloak_replicas: int
    long_running: Resources
    jobs: Resources
    storage_bytes: int
    database_instances: int
    database_storage_bytes: int
    realms: int
    applications: int
    identity_brokers: int

    @classmethod
    def of(cls, capacities: Iterable[CityCapacity]) -> Totals:
        items = list(capacities)
        return cls(
            cities=len(items),
            keycloak_replicas=sum(c.keycloak_replicas for c in items),
            long_running=total(c.long_running for c in items),
            jobs=total(c.jobs for c in items),
            storage_bytes=sum(c.storage_bytes for c in items),
            database_instances=sum(c.database_instances for c in items),
            database_storage_bytes=sum(c.database_storage_bytes for c in items),
            realms=sum(len(c.realms) for c in items),
            applications=sum(c.applications for c in items),
            identity_brokers=sum(c.identity_brokers for c in items),
        )


@dataclass(frozen=True)
class EnvReport:
    env: str
    cities: tuple[CityReport, ...]
    bill: Bill | None

    @property
    def totals(self) -> Totals:
        return Totals.of(c.capacity for c in self.cities)


@dataclass(frozen=True)
class Report:
    environments: tuple[EnvReport, ...]

    @property
    def totals(self) -> Totals:
        return Totals.of(c.capacity for e in self.environments for c in e.cities)

    def cost_totals(self) -> dict[str, Decimal]:
        """Sum of the environments' totals, per currency (environments without prices left out)."""
        sums: dict[str, Decimal] = {}
        for env in self.environments:
            if env.bill is not None:
                currency = env.bill.prices.currency
                sums[currency] = sums.get(currency, Decimal(0)) + env.bill.total
        return sums


def env_report(
    catalog: EnvironmentCatalog,
    rendered: Mapping[str, RenderedSource],
    rule: SplitRule | None = None,
) -> EnvReport:
    """Read each city's render and price the environment (SplitError when the rule cannot)."""
    capacities = [
        city_capacity(catalog.name, slug, rendered[slug].objects, rendered[slug].files)
        for slug in catalog.cities
    ]
    bill: Bill | None = None
    cost = catalog.settings.cost
    if cost is not None:
        weights = {slug: city.spec.cost_weight for slug, city in catalog.cities.items()}
        bill = split(rule or cost.split, Prices.of(cost), capacities, weights)
    by_slug = {b.slug: b for b in bill.cities} if bill else {}
    return EnvReport(
        env=catalog.name,
        cities=tuple(
            CityReport(
                capacity=capacity,
                name=display_name(catalog.cities[capacity.slug]),
                stack=catalog.cities[capacity.slug].stack_name,
                source=catalog.cities[capacity.slug].source,
                bill=by_slug.get(capacity.slug),
            )
            for capacity in capacities
        ),
        bill=bill,
    )
