"""The catalog loader merges exactly as Ansible does: compare with Ansible's own hostvars."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from ociam.catalog import ENVIRONMENTS, load_environment
from ociam.catalog.resolved import merge_like_ansible


def _ansible_hostvars(inventory: Path) -> dict[str, dict[str, Any]]:
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.vars.manager import VariableManager

    loader = DataLoader()
    manager = InventoryManager(loader=loader, sources=[str(inventory)])
    variables = VariableManager(loader=loader, inventory=manager)
    return {host.name: variables.get_vars(host=host) for host in manager.get_hosts()}


def _plain(value: Any) -> Any:
    """Ansible wraps strings in its own types; compare plain data."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str(value)
    return value


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_city_variables_match_ansible_hostvars(project_root: Path, env: str) -> None:
    directory = project_root / "inventories" / env
    hostvars = _ansible_hostvars(directory / "hosts.yml")
    env_vars = yaml.safe_load((directory / "group_vars" / "all.yml").read_text(encoding="utf-8"))
    catalog = load_environment(project_root, env)
    checked = 0
    for city in catalog.cities.values():
        city_vars = yaml.safe_load(city.source.read_text(encoding="utf-8"))
        ours = merge_like_ansible(env_vars, city_vars)
        for host in city.inventory_hosts:
            theirs = {k: _plain(v) for k, v in hostvars[host].items() if k in ours}
            assert theirs == ours, f"{env}/{city.slug} on {host}"
            checked += 1
    assert checked >= len(catalog.cities)


def test_city_override_replaces_whole_value_like_ansible(project_copy: Path) -> None:
    """A city that sets monitoring replaces the env's whole monitoring dict (no deep merge)."""
    directory = project_copy / "inventories" / "staging"
    city_file = directory / "group_vars" / "paimio.yml"
    city_file.write_text(
        city_file.read_text(encoding="utf-8") + "\nmonitoring:\n  enabled: false\n",
        encoding="utf-8",
    )
    hostvars = _ansible_hostvars(directory / "hosts.yml")
    ansible_monitoring = _plain(hostvars["iam-connector-staging.paimio.fi"]["monitoring"])
    config = load_environment(project_copy, "staging").city("paimio")
    assert ansible_monitoring == {"enabled": False}
    assert config.settings.monitoring.enabled is False
    assert config.settings.monitoring.service_monitor_labels == {}  # not merged from all.yml
    other = load_environment(project_copy, "staging").city("pori")
    assert other.settings.monitoring.service_monitor_labels == {"release": "kube-prometheus-stack"}


def test_catalog_keys_are_not_ansible_reserved_names(project_root: Path) -> None:
    from ansible.vars.reserved import get_reserved_names

    from ociam.catalog.city import CityFile
    from ociam.catalog.environment import EnvironmentSettings

    reserved = set(get_reserved_names())
    keys = set(CityFile.model_fields) | set(EnvironmentSettings.model_fields)
    assert not keys & reserved, f"catalog keys shadow Ansible names: {keys & reserved}"
