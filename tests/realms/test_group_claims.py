"""Groups from AD: how the LDAP group mapper reads them, and which clients get the claim."""

from __future__ import annotations

import dataclasses
import json

import pytest

from ociam.realms import build_realms
from tests.realms.realm_support import by, city


def _employees(env: str, slug: str, **ldap: object) -> dict[str, object]:
    config = city(env, slug)
    if ldap:
        spec = config.spec.model_copy(
            update={"ldap": config.spec.ldap.model_copy(update=ldap)}  # type: ignore[union-attr]
        )
        config = dataclasses.replace(config, spec=spec)
    files = build_realms(config).realms
    (realm,) = [json.loads(f.text) for f in files if f.filename == "realm-employees.json"]
    return realm  # type: ignore[no-any-return]


def _group_strategy(realm: dict[str, object]) -> str:
    (ldap,) = realm["components"]["org.keycloak.storage.UserStorageProvider"]  # type: ignore[index]
    groups = by(
        ldap["subComponents"]["org.keycloak.storage.ldap.mappers.LDAPStorageMapper"],
        "name",
        "groups",
    )
    return str(groups["config"]["user.roles.retrieve.strategy"][0])


@pytest.mark.parametrize(
    ("membership", "strategy"),
    [
        ("nested", "LOAD_GROUPS_BY_MEMBER_ATTRIBUTE_RECURSIVELY"),
        ("member_of", "GET_GROUPS_FROM_USER_MEMBEROF_ATTRIBUTE"),
    ],
)
def test_group_membership_picks_keycloaks_retrieval_strategy(
    membership: str, strategy: str
) -> None:
    assert _group_strategy(_employees("dev", "demo", group_membership=membership)) == strategy


def test_nested_is_the_default() -> None:
    assert (
        _group_strategy(_employees("dev", "demo")) == "LOAD_GROUPS_BY_MEMBER_ATTRIBUTE_RECURSIVELY"
    )


def test_only_clients_that_ask_get_the_groups_claim() -> None:
    realm = _employees("dev", "demo")
    intranet = by(realm["clients"], "clientId", "intranet")  # type: ignore[arg-type]
    (mapper,) = intranet["protocolMappers"]
    assert mapper["protocolMapper"] == "oidc-group-membership-mapper"
    assert mapper["config"]["claim.name"] == "groups"
    assert mapper["config"]["full.path"] == "false"
    assert {mapper["config"][f"{t}.token.claim"] for t in ("id", "access", "userinfo")} == {"true"}
    others = [c for c in realm["clients"] if c["clientId"] != "intranet"]  # type: ignore[union-attr]
    assert all("groups" not in str(c.get("protocolMappers", [])) for c in others)
