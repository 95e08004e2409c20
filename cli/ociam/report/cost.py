"""The bill of an environment and its split between the cities.

Each city's *usage* is what its long-running workloads request, at list price:
vCPU-months, GiB-months of memory and GiB-months of persistent storage. The
environment's *total* is the sum of the usages plus the fixed platform share. The
split rule divides the whole total (platform share included):

- ``equal``: the same for every city;
- ``by-requests``: in proportion to each city's usage;
- ``by-weight``: in proportion to each city's ``cost_weight``.

Amounts are exact decimals until the end; the total is rounded to the cent and
divided by the largest-remainder method, so the shares add up to the total to
the cent. Jobs (realm configuration, run to completion in minutes) are not
billed: a month of their requests would be reserved for a few minutes of use.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from ociam.catalog.environment import CostSettings, SplitRule
from ociam.report.capacity import CityCapacity
from ociam.report.quantity import GIB

CENT = Decimal("0.01")
SPLIT_RULES: tuple[SplitRule, ...] = ("equal", "by-requests", "by-weight")


class SplitError(ValueError):
    """The rule cannot split this environment; ``cities`` names the cities at fault."""

    def __init__(self, message: str, cities: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.cities = tuple(cities)


@dataclass(frozen=True)
class Prices:
    """The price list of one environment, per month."""

    currency: str
    vcpu_month: Decimal
    memory_gib_month: Decimal
    storage_gib_month: Decimal
    platform_month: Decimal

    @classmethod
    def of(cls, settings: CostSettings) -> Prices:
        prices = settings.prices
        return cls(
            currency=settings.currency,
            vcpu_month=Decimal(str(prices.vcpu_month)),
            memory_gib_month=Decimal(str(prices.memory_gib_month)),
            storage_gib_month=Decimal(str(prices.storage_gib_month)),
            platform_month=Decimal(str(prices.platform_month)),
        )

    def describe(self) -> str:
        c = self.currency
        return (
            f"{self.vcpu_month:.2f} {c} per vCPU-month, {self.memory_gib_month:.2f} {c} per "
            f"GiB-month of memory, {self.storage_gib_month:.2f} {c} per GiB-month of storage "
            f"(requests of long-running workloads), platform {self.platform_month:.2f} {c} "
            "per month"
        )


def usage(capacity: CityCapacity, prices: Prices) -> Decimal:
    """A city's long-running requests and storage at list price, per month (exact)."""
    running = capacity.long_running
    return (
        Decimal(running.cpu_requests_m) / 1000 * prices.vcpu_month
        + Decimal(running.memory_requests) / GIB * prices.memory_gib_month
        + Decimal(capacity.storage_bytes) / GIB * prices.storage_gib_month
    )


def cents(amount: Decimal) -> int:
    return int((amount / CENT).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def allocate(total_cents: int, weights: Mapping[str, Decimal]) -> dict[str, int]:
    """Divide whole cents in proportion to the weights; the parts add up to the total."""
    whole = sum(weights.values(), Decimal(0))
    if whole <= 0:
        raise SplitError("the weights add up to zero: nothing to split by")
    exact = {key: Decimal(total_cents) * weight / whole for key, weight in weights.items()}
    parts = {key: int(value) for key, value in exact.items()}  # floor: all values >= 0
    left = total_cents - sum(parts.values())
    by_remainder = sorted(exact, key=lambda key: (-(exact[key] - parts[key]), key))
    for key in by_remainder[:left]:
        parts[key] += 1
    return parts


@dataclass(frozen=True)
class CityBill:
    slug: str
    usage: Decimal
    weight: Decimal
    share_cents: int

    @property
    def share(self) -> Decimal:
        return Decimal(self.share_cents) * CENT


@dataclass(frozen=True)
class Bill:
    """An environment's total and each city's share of it."""

    rule: SplitRule
    prices: Prices
    cities: tuple[CityBill, ...]

    @property
    def usage_total(self) -> Decimal:
        return sum((c.usage for c in self.cities), Decimal(0))

    @property
    def total_cents(self) -> int:
        return cents(self.usage_total + self.prices.platform_month)

    @property
    def total(self) -> Decimal:
        return Decimal(self.total_cents) * CENT

    def describe(self) -> str:
        rule = {
            "equal": "split equally between the cities",
            "by-requests": "split in proportion to each city's requests at list price",
            "by-weight": "split in proportion to each city's cost_weight",
        }[self.rule]
        return f"{self.rule}: {rule}"


def split(
    rule: SplitRule,
    prices: Prices,
    capacities: Sequence[CityCapacity],
    weights: Mapping[str, float | None],
) -> Bill:
    """The environment's bill split by ``rule``; SplitError when the rule cannot apply."""
    if not capacities:
        raise SplitError("no cities to split between")
    usages = {c.slug: usage(c, prices) for c in capacities}
    if rule == "equal":
        shares = dict.fromkeys(usages, Decimal(1))
    elif rule == "by-requests":
        shares = dict(usages)
    else:
        missing = [slug for slug in usages if weights.get(slug) is None]
        if missing:
            raise SplitError("the by-weight split needs cost_weight in every city file", missing)
        shares = {slug: Decimal(str(weights[slug])) for slug in usages}
    total_cents = cents(sum(usages.values(), Decimal(0)) + prices.platform_month)
    parts = allocate(total_cents, shares)
    return Bill(
        rule=rule,
        prices=prices,
        cities=tuple(CityBill(slug, usages[slug], shares[slug], parts[slug]) for slug in usages),
    )
