"""Every realm file of every city of every environment passes Keycloak 26's strict schema."""

from __future__ import annotations

import json

import pytest

from ociam.realms import build_realms
from ociam.realms.validate import SchemaUnavailable, realm_errors
from tests.realms.realm_support import all_cities, keycloak_schema_dir

CITIES = all_cities()


def test_the_seed_catalog_has_cities_in_every_environment() -> None:
    assert {c.env for c in CITIES} == {"dev", "staging", "prod"}
    assert len(CITIES) >= 25


@pytest.mark.parametrize("city", CITIES, ids=lambda c: c.stack_name)
def test_every_realm_and_bootstrap_file_is_valid(city: object) -> None:
    realms = build_realms(city)  # type: ignore[arg-type]
    assert realms.realms, "every seed city enables at least one realm"
    for item in (*realms.realms, *realms.bootstrap):
        document = json.loads(item.text)
        assert realm_errors(document, keycloak_schema_dir()) == [], item.filename


def test_the_schema_is_strict_a_misspelled_key_fails() -> None:
    document = json.loads(build_realms(CITIES[0]).realms[0].text)
    document["bruteForceProtection"] = True
    document["clients"] = [{"clientID": "x"}]
    errors = realm_errors(document, keycloak_schema_dir())
    assert any("bruteForceProtection" in e for e in errors)
    assert any("clientID" in e for e in errors)


def test_a_missing_schema_directory_is_an_error_not_a_pass(tmp_path: object) -> None:
    from pathlib import Path

    with pytest.raises(SchemaUnavailable):
        realm_errors({"realm": "x"}, Path(str(tmp_path)))


def test_rendered_realm_files_are_written_and_checked(tmp_path: object) -> None:
    from pathlib import Path

    from ociam.realms.validate import rendered_realm_errors, write_realm_files

    out = Path(str(tmp_path)) / "dev" / "demo"
    written = write_realm_files(build_realms(CITIES[0]), out)
    assert [p.name for p in written] == [f.filename for f in build_realms(CITIES[0]).realms]
    assert rendered_realm_errors(out.parent, keycloak_schema_dir()) == []

    broken = json.loads(written[0].read_text())
    broken["bruteForceProtection"] = True
    ldap = broken["components"]["org.keycloak.storage.UserStorageProvider"][0]
    ldap["config"]["bindCredential"] = ["hunter2"]
    written[0].write_text(json.dumps(broken))
    errors = rendered_realm_errors(out.parent, keycloak_schema_dir())
    assert any("bruteForceProtection" in e for e in errors)
    assert any("bindCredential" in e and "secret value" in e for e in errors)
    assert all(str(written[0]) in e for e in errors)
