"""Values two cities almost never share on purpose: warnings, errors with --strict.

Each case copies one value of Pori's file into Porvoo's (as a city file started
from a copy of another's would have it): the catalog still validates with a
warning naming both files, and `--strict` refuses it with exit 2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import Cli, snapshot

PORVOO = Path("inventories/prod/group_vars/porvoo.yml")
DEV_DEMO = Path("inventories/dev/group_vars/demo.yml")


@dataclass(frozen=True)
class Copied:
    id: str
    file: Path
    old: str
    new: str
    reason: str


CASES = [
    Copied(
        "domain-controller",
        PORVOO,
        "host: dc1.ad.porvoo.fi",
        "host: dc1.ad.pori.fi",
        "domain controller 'dc1.ad.pori.fi' is also used by pori",
    ),
    Copied(
        "users-dn",
        PORVOO,
        'users_dn: "OU=Users,OU=Porvoo,DC=ad,DC=porvoo,DC=fi"',
        'users_dn: "OU=Users,OU=Pori,DC=ad,DC=pori,DC=fi"',
        "LDAP directory DN",
    ),
    Copied(
        "users-dn-spaced-and-lower-case",
        PORVOO,
        'users_dn: "OU=Users,OU=Porvoo,DC=ad,DC=porvoo,DC=fi"',
        'users_dn: "ou=users, ou=pori, dc=ad, dc=pori, dc=fi"',
        "LDAP directory DN",
    ),
    Copied(
        "groups-dn",
        PORVOO,
        'groups_dn: "OU=Groups,OU=Porvoo,DC=ad,DC=porvoo,DC=fi"',
        'groups_dn: "OU=Groups, OU=Pori, DC=ad, DC=pori, DC=fi"',
        "LDAP directory DN",
    ),
    Copied(
        "bind-dn",
        PORVOO,
        'bind_dn: "CN=svc-keycloak,OU=Service Accounts,DC=ad,DC=porvoo,DC=fi"',
        'bind_dn: "CN=svc-keycloak,OU=Service Accounts,DC=ad,DC=pori,DC=fi"',
        "LDAP bind DN",
    ),
    Copied(
        "redirect-on-another-city",
        PORVOO,
        '"https://intra.porvoo.fi/oauth2/callback"',
        '"https://intra.pori.fi/oauth2/callback"',
        "is on pori's domain pori.fi",
    ),
    Copied(
        "saml-entity-id",
        DEV_DEMO,
        '"https://dev-varaamo.demo.example/saml/metadata"',
        '"https://dev-varaamo.hameenlinna.fi/saml/metadata"',
        "SAML entity ID",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_a_value_copied_from_another_city_is_a_warning_and_strict_refuses_it(
    case: Copied, project_copy: Path, copy_cli: Cli
) -> None:
    path = project_copy / case.file
    env = case.file.parts[1]
    baseline = _strict_errors(copy_cli, env)
    text = path.read_text(encoding="utf-8")
    assert case.old in text, f"seed catalog changed: {case.old}"
    path.write_text(text.replace(case.old, case.new, 1), encoding="utf-8")
    before = snapshot(project_copy)
    relaxed = copy_cli("validate", "--env", env)
    assert relaxed.exit_code == 0, relaxed.output
    lines = [line for line in relaxed.stderr.splitlines() if case.reason in line]
    assert lines and all(": warning: " in line for line in lines), relaxed.stderr
    assert any(
        line.startswith(str(case.file.relative_to("inventories")))
        or line.startswith(str(case.file))
        for line in lines
    ), lines
    # --strict counts the copied value as an error (prod also warns about missing digests)
    assert _strict_errors(copy_cli, env) > baseline
    assert snapshot(project_copy) == before


def _strict_errors(cli: Cli, env: str) -> int:
    result = cli("validate", "--env", env, "--strict")
    match = re.search(rf"^{env}: (\d+) error\(s\)", result.stderr, re.MULTILINE)
    if match is None:
        assert result.exit_code == 0, result.output
        return 0
    assert result.exit_code == 2, result.output
    return int(match[1])
