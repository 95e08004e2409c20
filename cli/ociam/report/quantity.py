"""Kubernetes resource quantities as exact numbers: CPU in millicores, memory and storage
in bytes (``resource.Quantity`` semantics: decimal and binary suffixes, exponents)."""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation

_SUFFIXES: dict[str, Decimal] = {
    "": Decimal(1),
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
    "Ki": Decimal(2**10),
    "Mi": Decimal(2**20),
    "Gi": Decimal(2**30),
    "Ti": Decimal(2**40),
    "Pi": Decimal(2**50),
    "Ei": Decimal(2**60),
}
_QUANTITY = re.compile(
    r"^([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?$"
)

GIB = Decimal(2**30)


class QuantityError(ValueError):
    """A value that is not a Kubernetes quantity."""


def parse(value: object) -> Decimal:
    """The quantity's value in base units (cores, bytes)."""
    if isinstance(value, bool):
        raise QuantityError(f"{value!r} is not a quantity")
    if isinstance(value, int | float):
        return Decimal(str(value))
    if not isinstance(value, str):
        raise QuantityError(f"{value!r} is not a quantity")
    match = _QUANTITY.match(value.strip())
    if match is None:
        raise QuantityError(f"'{value}' is not a Kubernetes quantity")
    number, suffix = match.groups()
    try:
        return Decimal(number) * _SUFFIXES[suffix or ""]
    except InvalidOperation as exc:
        raise QuantityError(f"'{value}' is not a Kubernetes quantity") from exc


def millicores(value: object) -> int:
    """CPU in millicores, rounded up as Kubernetes does (it has no finer resolution)."""
    return math.ceil(parse(value) * 1000)


def bytes_of(value: object) -> int:
    """Memory or storage in bytes, rounded up."""
    return math.ceil(parse(value))
