"""Hostile YAML inputs for a city file, shared by tests/catalog/test_hostile_yaml.py and
bench/hostile_yaml.py."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ociam.catalog.types import MAX_ITEMS
from ociam.catalog.yaml_source import MAX_DEPTH, MAX_FILE_BYTES, MAX_KEYS, MAX_SCALAR_CHARS

CITY = Path("inventories/dev/group_vars/demo.yml")
SEED_CITY = (Path(__file__).resolve().parents[2] / CITY).read_text(encoding="utf-8")


def long_allowlist(entries: int = MAX_ITEMS + 44) -> bytes:
    """The demo city with an admin_allowlist of ``entries`` CIDRs (all under the size
    limit: the pairwise overlap check made 10 000 of these run for minutes)."""
    head, _, rest = SEED_CITY.partition("admin_allowlist:\n")
    tail = rest[rest.index("\n", rest.index("realms:") - 1) :]
    cidrs = "".join(f"  - 10.{i // 256}.{i % 256}.0/24\n" for i in range(entries))
    return f"{head}admin_allowlist:\n{cidrs}{tail.lstrip(chr(10))}".encode()


ALLOWLIST_LINE = SEED_CITY[: SEED_CITY.index("admin_allowlist:")].count("\n") + 1


def billion_laughs(levels: int = 12) -> str:
    lines = ["lol0: &lol0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        refs = ", ".join([f"*lol{level - 1}"] * 10)
        lines.append(f"lol{level}: &lol{level} [{refs}]")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Hostile:
    id: str
    #: appended to the demo city file (str), or the whole file (bytes)
    content: str | bytes
    reason: str
    #: the line the problem must name (None: the file as a whole)
    line: int | None


CASES = [
    Hostile("alias-bomb", billion_laughs(), "anchors and aliases are not allowed", 0),
    Hostile("alias", "extra_a: &shared x\nextra_b: *shared\n", "anchor &shared", 0),
    Hostile("complex-key", "? [a, b]\n: x\n", "a list used as a mapping key", 0),
    Hostile(
        "complex-mapping-key", "extra:\n  ? {a: b}\n  : x\n", "a mapping used as a mapping key", 1
    ),
    Hostile(
        "long-list",
        long_allowlist(),
        f"List should have at most {MAX_ITEMS} items",
        ALLOWLIST_LINE,
    ),
    Hostile(
        "many-problems",
        "".join(f"unknown_{i}: 1\n" for i in range(200)),
        "... and 150 more problems",
        None,
    ),
    Hostile(
        "many-keys",
        "extra:\n" + "".join(f"  unknown_{i}: 1\n" for i in range(3000)),
        f"more than {MAX_KEYS} keys in one mapping",
        MAX_KEYS + 1,  # the first key too many
    ),
    Hostile("merge-key", "extra:\n  <<: {bind_dn: x}\n", "merge keys (<<) are not allowed", 1),
    Hostile(
        "deep-nesting",
        "deep: " + "[" * (MAX_DEPTH + 40) + "]" * (MAX_DEPTH + 40) + "\n",
        f"nested deeper than {MAX_DEPTH} levels",
        0,
    ),
    Hostile(
        "long-scalar",
        "comment_field: " + "x" * (MAX_SCALAR_CHARS + 1) + "\n",
        f"catalog values are limited to {MAX_SCALAR_CHARS}",
        0,
    ),
    Hostile(
        "huge-file",
        "# padding\n" * (MAX_FILE_BYTES // 10 + 10),
        f"catalog files are limited to {MAX_FILE_BYTES} bytes",
        None,
    ),
    Hostile(
        "python-object",
        'pwn: !!python/object/apply:os.system ["touch /tmp/ociam-pwned"]\n',
        "YAML tag tag:yaml.org,2002:python/object/apply:os.system is not allowed",
        0,
    ),
    Hostile("binary", "blob: !!binary aGVsbG8=\n", "YAML tag tag:yaml.org,2002:binary", 0),
    Hostile("ansible-unsafe", 'name: !unsafe \'{{ lookup("pipe", "id") }}\'\n', "tag !unsafe", 0),
    Hostile("control-character", "note: bell\x07here\n", "character #x0007 is not allowed", 0),
    Hostile("nul-byte", b"city:\n  slug: demo\0\n", "contains a NUL byte", 2),
    Hostile("byte-order-mark", "\ufeffcity:\n  slug: demo\n".encode(), "byte-order mark", 1),
    Hostile("not-utf8", b"city:\n  names:\n    fi: H\xe4meenlinna\n", "byte 0xe4", 3),
]


def write_case(root: Path, case: Hostile) -> int:
    """Apply ``case`` to the checkout at ``root``; the line its appended content starts on."""
    path = root / CITY
    if isinstance(case.content, bytes):
        path.write_bytes(case.content)
        return 0
    text = path.read_text(encoding="utf-8")
    first = text.count("\n") + 1
    path.write_text(text + case.content, encoding="utf-8")
    return first
