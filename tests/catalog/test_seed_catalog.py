"""The seed catalog: the consortium's eight cities in every environment, plus demo in dev."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ociam.catalog import ENVIRONMENTS, load_environment
from tests.support import Cli

CONSORTIUM = {
    # slug: (Finnish name, Swedish name if bilingual, kuntanumero, official languages)
    "hameenlinna": ("Hämeenlinna", None, "109", ["fi"]),
    "pori": ("Pori", None, "609", ["fi"]),
    "porvoo": ("Porvoo", "Borgå", "638", ["fi", "sv"]),
    "seinajoki": ("Seinäjoki", None, "743", ["fi"]),
    "kajaani": ("Kajaani", None, "205", ["fi"]),
    "heinola": ("Heinola", None, "111", ["fi"]),
    "kankaanpaa": ("Kankaanpää", None, "214", ["fi"]),
    "paimio": ("Paimio", None, "577", ["fi"]),
}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_validates_without_errors(project_root: Path, env: str) -> None:
    catalog = load_environment(project_root, env)
    expected = set(CONSORTIUM) | ({"demo"} if env == "dev" else set())
    assert set(catalog.cities) == expected
    assert all(w.severity == "warning" for w in catalog.warnings)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_consortium_identities(project_root: Path, env: str) -> None:
    catalog = load_environment(project_root, env)
    for slug, (fi, sv, code, languages) in CONSORTIUM.items():
        identity = catalog.city(slug).spec.city
        assert (identity.names.fi, identity.names.sv) == (fi, sv)
        assert identity.municipality_code == code
        assert identity.official_languages == languages


def test_prod_hostnames_are_on_the_cities_own_domains(project_root: Path) -> None:
    catalog = load_environment(project_root, "prod")
    for city in catalog.cities.values():
        domain = city.spec.city.domain
        assert city.hostnames.public == f"tunnistus.{domain}"
        assert city.hostnames.admin == f"tunnistus-admin.{domain}"


def test_every_city_has_a_connector_host(project_root: Path) -> None:
    for env in ENVIRONMENTS:
        for city in load_environment(project_root, env).cities.values():
            assert city.inventory_hosts, f"{env}/{city.slug} has no connector host"


def test_cities_json_lists_the_eight_cities(cli: Cli) -> None:
    result = cli("cities", "--env", "prod", "--output", "json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert listed["env"] == "prod"
    assert [c["slug"] for c in listed["cities"]] == sorted(CONSORTIUM)
    porvoo = next(c for c in listed["cities"] if c["slug"] == "porvoo")
    assert porvoo["name_sv"] == "Borgå"
    assert porvoo["stack"] == "prod-porvoo"
    assert porvoo["public_hostname"] == "tunnistus.porvoo.fi"


def test_validate_prod_exits_zero(cli: Cli) -> None:
    result = cli("validate", "--env", "prod")
    assert result.exit_code == 0, result.output
    assert "prod: ok, 8 cities valid" in result.stdout


def test_validate_all_environments(cli: Cli) -> None:
    result = cli("validate", "--all-envs", "--output", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert [e["env"] for e in report["environments"]] == list(ENVIRONMENTS)
    assert report["ok"] is True
