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


HOST = "iam-connector-dev.demo.example"
SECOND = "172.20.0.12"
ELSEWHERE = "203.0.113.9"


def _host_vars_dir(directory: Path) -> int:
    (directory / "host_vars").mkdir()
    (directory / "host_vars" / f"{HOST}.yml").write_text(
        f"connector:\n  tunnel_address: {SECOND}\n", encoding="utf-8"
    )
    return 0


def _host_vars_inline(directory: Path) -> int:
    hosts = directory / "hosts.yml"
    text = hosts.read_text(encoding="utf-8")
    hosts.write_text(
        text.replace(
            f"{HOST}:\n", f"{HOST}:\n              connector: {{tunnel_address: {SECOND}}}\n"
        ),
        encoding="utf-8",
    )
    return text[: text.index(HOST)].count("\n") + 1


def _group_vars_inline(directory: Path) -> int:
    hosts = directory / "hosts.yml"
    text = hosts.read_text(encoding="utf-8")
    marker = "        demo:\n"
    hosts.write_text(
        text.replace(
            marker,
            f"{marker}          vars:\n            ansible_host: {ELSEWHERE}\n",
        ),
        encoding="utf-8",
    )
    return text[: text.index(marker)].count("\n") + 2


def _jinja(directory: Path) -> int:
    city = directory / "group_vars" / "demo.yml"
    text = city.read_text(encoding="utf-8")
    city.write_text(text + 'jinja_note: "{{ 7*7 }}"\n', encoding="utf-8")
    return text.count("\n") + 1


#: inputs Ansible reads differently from ociam: (edit returning the line to name, the
#: file named, the reason, what Ansible then reads for the connector host)
READ_DIFFERENTLY: dict[str, tuple[Any, str, str, tuple[str, Any]]] = {
    "host-vars-directory": (
        _host_vars_dir, "host_vars", "host_vars/ is not allowed", ("connector", SECOND)
    ),
    "host-vars-in-hosts": (
        _host_vars_inline, "hosts.yml", "host variables in hosts.yml", ("connector", SECOND)
    ),
    "group-vars-in-hosts": (
        _group_vars_inline, "hosts.yml", "group variables in hosts.yml", ("ansible_host", ELSEWHERE)
    ),
    "jinja": (_jinja, "group_vars/demo.yml", "starts a Jinja template", ("jinja_note", "49")),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(READ_DIFFERENTLY))
def test_what_ansible_reads_differently_is_refused(project_copy: Path, case: str) -> None:
    from ansible.template import Templar

    from ociam.catalog import CatalogError

    edit, named, reason, (key, theirs) = READ_DIFFERENTLY[case]
    directory = project_copy / "inventories" / "dev"
    line = edit(directory)
    hostvars = _ansible_hostvars(directory / "hosts.yml")[HOST]
    value = Templar(loader=None, variables=hostvars).template(hostvars[key])
    if key == "connector":
        value = value["tunnel_address"]
    # the edit really changes what Ansible reads (the catalog's value is 172.20.0.99)
    assert str(value) == theirs
    with pytest.raises(CatalogError) as caught:
        load_environment(project_copy, "dev")
    matching = [p for p in caught.value.problems if p.file == directory / named]
    assert matching, caught.value.problems
    assert any(reason in p.reason for p in matching), matching
    if line:
        assert any(p.line == line for p in matching), matching
