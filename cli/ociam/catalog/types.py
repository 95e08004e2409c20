"""Constrained value types shared by the catalog models.

The models run in pydantic strict mode (YAML's ``no``/``on`` surprises do not
pass as strings), so every type that is written as a string in YAML but held
as an object here (networks, addresses) parses explicitly and explains itself.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any
from uuid import UUID

from pydantic import AfterValidator, BeforeValidator, Field, PlainSerializer, WithJsonSchema

SLUG_PATTERN = r"^[a-z][a-z0-9]{1,29}$"
DNS_LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
HOSTNAME_PATTERN = rf"^(?=.{{1,253}}$){DNS_LABEL}(\.{DNS_LABEL})+$"
_HOSTNAME_RE = re.compile(HOSTNAME_PATTERN)
_DN_RE = re.compile(r"^[A-Za-z][A-Za-z0-9-]*=[^,=]+(,\s*[A-Za-z][A-Za-z0-9-]*=[^,=]+)*$")


def _parse_ipv4_network(value: Any) -> ipaddress.IPv4Network:
    if isinstance(value, ipaddress.IPv4Network):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv4 CIDR string like '10.0.0.0/24', got {value!r}")
    if "/" not in value:
        raise ValueError(f"'{value}' is not a CIDR: add the prefix length, e.g. '{value}/32'")
    try:
        return ipaddress.IPv4Network(value, strict=True)
    except ValueError as exc:
        if "host bits set" in str(exc):
            network = ipaddress.IPv4Network(value, strict=False)
            raise ValueError(f"'{value}' has host bits set; did you mean '{network}'?") from None
        raise ValueError(f"'{value}' is not a valid IPv4 CIDR") from None


def _parse_ipv4_address(value: Any) -> ipaddress.IPv4Address:
    if isinstance(value, ipaddress.IPv4Address):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected an IPv4 address string like '10.0.0.1', got {value!r}")
    try:
        return ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError(f"'{value}' is not a valid IPv4 address") from None


def _parse_uuid(value: Any) -> UUID:
    if isinstance(value, UUID):
        return value
    if not isinstance(value, str):
        raise ValueError(f"expected a UUID string, got {value!r}")
    try:
        return UUID(value)
    except ValueError:
        raise ValueError(f"'{value}' is not a UUID (8-4-4-4-12 hex digits)") from None


def _check_hostname(value: str) -> str:
    if not _HOSTNAME_RE.match(value):
        raise ValueError(
            f"'{value}' is not a fully qualified lower-case DNS name (e.g. 'tunnistus.pori.fi')"
        )
    return value


def _check_dn(value: str) -> str:
    if not _DN_RE.match(value):
        raise ValueError(
            f"'{value}' is not an LDAP distinguished name (e.g. 'OU=Users,DC=ad,DC=pori,DC=fi')"
        )
    return value


IPv4Net = Annotated[
    ipaddress.IPv4Network,
    BeforeValidator(_parse_ipv4_network),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {"type": "string", "format": "ipv4-network", "pattern": r"^\d+\.\d+\.\d+\.\d+/\d+$"}
    ),
]
IPv4Addr = Annotated[
    ipaddress.IPv4Address,
    BeforeValidator(_parse_ipv4_address),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "format": "ipv4"}),
]
Uuid = Annotated[
    UUID,
    BeforeValidator(_parse_uuid),
    PlainSerializer(str, return_type=str),
    WithJsonSchema({"type": "string", "format": "uuid"}),
]
Hostname = Annotated[
    str,
    AfterValidator(_check_hostname),
    WithJsonSchema({"type": "string", "pattern": HOSTNAME_PATTERN}),
]
DistinguishedName = Annotated[str, AfterValidator(_check_dn)]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
#: a WireGuard public key as ``wg pubkey`` prints it: base64 of 32 bytes
WIREGUARD_KEY_PATTERN = r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$"
WireGuardKey = Annotated[str, Field(pattern=WIREGUARD_KEY_PATTERN)]
Port = Annotated[int, Field(ge=1, le=65535)]
#: no list in the catalog needs more items (a city has a few applications and CIDRs);
#: it bounds the time of checks that compare items pairwise
MAX_ITEMS = 256

K8sName = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]
