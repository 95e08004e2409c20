"""One catalog entry, four consumers: the LDAP path of every city agrees end to end.

For every city of every environment, from the same catalog files:
  - the city stack (rendered offline): Keycloak's LDAP URL in the realm JSON,
    the pod's hostAliases mapping the URL host to an address, the egress
    NetworkPolicy letting Keycloak reach that address on the URL's port;
  - the hub (playbooks/hub.yml's role variables, evaluated by Ansible's own
    templating on the real inventory, then the role's nftables templates
    rendered): that address and port DNATed to the city's connector, allowed
    from exactly CityConfig.hub_allowed_sources;
  - the connector (playbooks/connector.yml): HAProxy listening on that tunnel
    address and port, its checks naming the URL host, passing to the city's
    domain controllers, the firewall allowing only the hub's SNAT address.
"""

from __future__ import annotations

import ipaddress
import json
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from ociam.catalog import ENVIRONMENTS, CityConfig, load_environment
from ociam.catalog.city import Connector, LdapFederation
from ociam.catalog.environment import HubSettings

ROOT = Path(__file__).resolve().parents[2]
E2E = ROOT / "tests" / "molecule" / "connector_e2e" / "inventory" / "group_vars"


# --- Ansible's view: the playbooks' role variables, templated by Ansible -----------


class AnsibleView:
    """One environment's inventory (of the checkout at ``root``) as ansible-playbook
    sees it, with this checkout's playbooks."""

    def __init__(self, env: str, root: Path = ROOT) -> None:
        from ansible.inventory.manager import InventoryManager
        from ansible.parsing.dataloader import DataLoader
        from ansible.plugins.loader import add_all_plugin_dirs, init_plugin_loader
        from ansible.vars.hostvars import HostVars
        from ansible.vars.manager import VariableManager

        init_plugin_loader()
        add_all_plugin_dirs(str(ROOT / "playbooks"))
        self.loader = DataLoader()
        self.inventory = InventoryManager(
            loader=self.loader, sources=[str(root / "inventories" / env / "hosts.yml")]
        )
        self.variables = VariableManager(loader=self.loader, inventory=self.inventory)
        self.variables._hostvars = HostVars(  # what the task queue manager sets up
            inventory=self.inventory, variable_manager=self.variables, loader=self.loader
        )

    def role_vars(self, playbook: str, role: str, host: str) -> dict[str, Any]:
        """The variables ``playbook`` gives ``role`` on ``host``, fully templated."""
        from ansible.template import Templar

        plays = self.loader.load_from_file(str(ROOT / "playbooks" / playbook))
        play = next(p for p in plays if any(r.get("role") == role for r in p.get("roles", [])))
        entry = next(r for r in play["roles"] if r.get("role") == role)
        variables = dict(self.variables.get_vars(host=self.inventory.get_host(host)))
        variables.update(_trusted(play.get("vars", {})))
        templar = Templar(loader=self.loader, variables=variables)
        return dict(_plain(templar.template(_trusted(entry["vars"]))))


def _trusted(value: Any) -> Any:
    """Mark playbook strings as templates, as the playbook loader does."""
    from ansible.template import trust_as_template

    if isinstance(value, dict):
        return {k: _trusted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_trusted(v) for v in value]
    return trust_as_template(value) if isinstance(value, str) else value


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return str(value) if isinstance(value, str) else value


def render_role_template(role: str, template: str, role_vars: dict[str, Any]) -> str:
    """A role template rendered with the role's defaults, its vars and role_vars."""
    import jinja2

    variables: dict[str, Any] = {"ansible_managed": "test", "inventory_hostname": "test"}
    for name in ("defaults/main.yml", "vars/main.yml", "vars/Debian.yml"):
        variables.update(yaml.safe_load((ROOT / "roles" / role / name).read_text()) or {})
    variables.update(role_vars)
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(ROOT / "roles" / role / "templates"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        keep_trailing_newline=True,
    )
    # role vars refer to each other ({{ wireguard_config_dir }}/...): resolve them
    for _ in range(3):
        variables = {
            k: environment.from_string(v).render(variables) if isinstance(v, str) else v
            for k, v in variables.items()
        }
    return environment.get_template(template).render(variables)


@cache
def ansible_view(env: str) -> AnsibleView:
    return AnsibleView(env)


@cache
def hub_vars(env: str) -> dict[str, Any]:
    view = ansible_view(env)
    hub_host = view.inventory.groups["hub"].get_hosts()[0].name
    return view.role_vars("hub.yml", "wireguard", hub_host)


# --- the cluster's view: the city stack rendered offline ----------------------------


@cache
def rendered(env: str, slug: str) -> Any:
    from ociam.engines.offline import OfflineEngine
    from ociam.render.service import render_city

    return render_city(OfflineEngine(ROOT), load_environment(ROOT, env).city(slug))


def realm_ldap_urls(city: CityConfig) -> list[str]:
    realm = json.loads(rendered(city.env, city.slug).files["realm-employees.json"])
    return [
        url
        for components in realm.get("components", {}).values()
        for component in components
        for url in component.get("config", {}).get("connectionUrl", [])
    ]


def host_aliases(city: CityConfig) -> dict[str, str]:
    sts = next(
        o
        for o in rendered(city.env, city.slug).objects
        if o["kind"] == "StatefulSet" and o["metadata"]["name"] == "keycloak"
    )
    aliases = sts["spec"]["template"]["spec"].get("hostAliases", [])
    return {name: alias["ip"] for alias in aliases for name in alias["hostnames"]}


def egress_to(city: CityConfig) -> list[tuple[str, int]]:
    """(CIDR, port) pairs Keycloak's egress NetworkPolicy allows to ipBlocks."""
    policy = next(
        o
        for o in rendered(city.env, city.slug).objects
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"] == "keycloak-egress"
    )
    return [
        (peer["ipBlock"]["cidr"], port["port"])
        for rule in policy["spec"]["egress"]
        for peer in rule.get("to", [])
        if "ipBlock" in peer
        for port in rule.get("ports", [])
    ]


def connector_cities() -> list[tuple[str, str]]:
    found = []
    for env in ENVIRONMENTS:
        for slug, city in load_environment(ROOT, env).cities.items():
            if city.ldap is not None and city.spec.connector is not None and city.inventory_hosts:
                found.append((env, slug))
    return found


CITIES = connector_cities()


def test_every_environment_has_connector_cities() -> None:
    assert {env for env, _ in CITIES} == set(ENVIRONMENTS)


@pytest.mark.parametrize(("env", "slug"), CITIES, ids=[f"{e}-{s}" for e, s in CITIES])
def test_ldap_url_hub_and_connector_agree(env: str, slug: str) -> None:
    city = load_environment(ROOT, env).city(slug)
    connector, ldap = city.spec.connector, city.ldap
    assert connector is not None and ldap is not None and city.ldap_url is not None
    service, tunnel = str(connector.hub_service_address), str(connector.tunnel_address)

    # Keycloak: URL in the realm, its host mapped to the city's hub address, egress allowed
    assert realm_ldap_urls(city) == [city.ldap_url]
    url = urlsplit(city.ldap_url)
    assert url.scheme == "ldaps" and url.hostname == ldap.tls_server_name
    port = url.port or 636
    assert host_aliases(city) == {ldap.tls_server_name: service}
    assert (f"{service}/32", port) in egress_to(city)

    # the hub: this city's address and port DNATed to its connector, from its sources only
    hub = hub_vars(env)
    forwards = {f["name"]: f for f in hub["wireguard_hub_forwards"]}
    forward = forwards[slug]
    assert forward["service_address"] == service
    assert forward["target_address"] == tunnel
    assert forward["port"] == port
    assert forward["allowed_sources"] == city.hub_allowed_sources
    assert [f["name"] for f in forwards.values() if f["target_address"] == tunnel] == [slug]
    peers = {p["name"]: p for p in hub["wireguard_peers"]}
    assert peers[slug]["allowed_ips"] == [f"{tunnel}/32"]
    nat = render_role_template("wireguard", "nft-nat.nft.j2", hub)
    assert re.search(
        rf"ip daddr {re.escape(service)} tcp dport {port} "
        rf'dnat ip to {re.escape(tunnel)}:{forward["target_port"]} comment "{slug}"',
        nat,
    )
    assert f"snat ip to {city.settings.hub.tunnel_address} " in nat
    rules = render_role_template("wireguard", "nft-forward.nft.j2", hub)
    sources = ", ".join(city.hub_allowed_sources)
    assert (
        f"ip saddr {{ {sources} }} ct original ip daddr {service} "
        f"ip daddr {tunnel} tcp dport {forward['target_port']} ct state new accept"
    ) in rules

    # the connector: listening on that tunnel address, checks naming the URL host
    view = ansible_view(env)
    host = city.inventory_hosts[0]
    spoke = view.role_vars("connector.yml", "wireguard", host)
    assert spoke["wireguard_address"] == tunnel
    assert spoke["wireguard_network"] == str(city.settings.hub.tunnel_network)
    assert spoke["wireguard_peers"][0]["endpoint"] == city.settings.hub.endpoint
    assert spoke["wireguard_peers"][0]["allowed_ips"] == [f"{city.settings.hub.tunnel_address}/32"]
    relay = view.role_vars("connector.yml", "ldap_connector", host)
    assert relay["ldap_connector_allowed_sources"] == [f"{city.settings.hub.tunnel_address}/32"]
    haproxy = render_role_template("ldap_connector", "haproxy.cfg.j2", relay)
    assert f"bind {tunnel}:{forward['target_port']}\n" in haproxy
    assert f"check-sni {ldap.tls_server_name} " in haproxy
    servers = re.findall(r"^    server (\S+) (\S+?):(\d+)", haproxy, re.M)
    assert servers == [
        (dc.host, str(dc.address or dc.host), str(dc.port)) for dc in ldap.domain_controllers
    ]


def test_e2e_scenario_catalog_is_a_valid_catalog() -> None:
    """The Molecule scenario's catalog passes the same models as the real one."""
    env = yaml.safe_load((E2E / "all.yml").read_text())
    hub = HubSettings.model_validate(env["hub"])
    cluster_egress = [ipaddress.IPv4Network(n) for n in env["cluster"]["egress_cidrs"]]
    for slug in ("citya", "cityb"):
        city = yaml.safe_load((E2E / f"{slug}.yml").read_text())
        assert city["city"]["slug"] == slug
        connector = Connector.model_validate(city["connector"])
        assert connector.tunnel_address in hub.tunnel_network
        assert connector.hub_service_address in hub.service_network
        ldap = dict(city["ldap"])
        ldap.pop("ca_certificate")  # made at test time (a template here)
        LdapFederation.model_validate(ldap)
        sources = connector.allowed_sources or cluster_egress
        assert all(net.prefixlen >= 8 for net in sources)


# --- the filter that gathers the cities for the hub --------------------------------


def _filter() -> Any:
    import importlib.util

    path = ROOT / "playbooks" / "filter_plugins" / "ociam_connector.py"
    spec = importlib.util.spec_from_file_location("ociam_connector", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hostvars(**extra: Any) -> dict[str, dict[str, Any]]:
    connector = {"tunnel_address": "172.20.0.11", "hub_service_address": "172.21.0.11", **extra}
    return {
        "c1": {
            "city": {"slug": "pori"},
            "connector": connector,
            "cluster": {"egress_cidrs": ["10.240.0.0/22"]},
        },
    }


def test_hub_filter_prefers_the_catalog_key_over_the_run_fact() -> None:
    module = _filter()
    key = "A" * 43 + "="
    hostvars = _hostvars(wireguard_public_key=key)
    hostvars["c1"]["wireguard_public_key"] = "B" * 43 + "="
    cities = module.ociam_hub_cities({"cities": ["c1"]}, hostvars)
    assert cities[0]["peer"]["public_key"] == key
    del hostvars["c1"]["connector"]["wireguard_public_key"]
    assert (
        module.ociam_hub_cities({"cities": ["c1"]}, hostvars)[0]["peer"]["public_key"]
        == "B" * 43 + "="
    )
    hostvars["c1"].pop("wireguard_public_key")
    assert module.ociam_hub_cities({"cities": ["c1"]}, hostvars)[0]["peer"]["public_key"] == ""


def test_hub_filter_uses_city_sources_else_cluster_egress() -> None:
    module = _filter()
    own = module.ociam_hub_cities({"cities": ["c1"]}, _hostvars(allowed_sources=["10.9.0.0/24"]))
    assert own[0]["forward"]["allowed_sources"] == ["10.9.0.0/24"]
    default = module.ociam_hub_cities({"cities": ["c1"]}, _hostvars())
    assert default[0]["forward"]["allowed_sources"] == ["10.240.0.0/22"]


def test_hub_filter_refuses_two_connector_hosts_for_one_city() -> None:
    from ansible.errors import AnsibleFilterError

    module = _filter()
    hostvars = _hostvars()
    hostvars["c2"] = hostvars["c1"]
    with pytest.raises(AnsibleFilterError, match="2 connector hosts"):
        module.ociam_hub_cities({"cities": ["c1", "c2"]}, hostvars)


# --- the WireGuard keys and keepalive in the catalog ----------------------------------

KEY_A, KEY_B = "A" * 42 + "Q=", "B" * 42 + "Q="


def _add_to_connector(root: Path, slug: str, lines: str) -> Path:
    path = root / "inventories" / "dev" / "group_vars" / f"{slug}.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\nconnector:\n", f"\nconnector:\n{lines}", 1), encoding="utf-8")
    return path


def _add_to_hub(root: Path, lines: str) -> None:
    path = root / "inventories" / "dev" / "group_vars" / "all.yml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\nhub:\n", f"\nhub:\n{lines}", 1), encoding="utf-8")


def test_wireguard_keys_and_keepalive_are_typed(project_copy: Path, copy_cli: Any) -> None:
    _add_to_connector(project_copy, "pori", "  wireguard_public_key: not-a-key\n")
    _add_to_connector(project_copy, "porvoo", "  persistent_keepalive: 0\n")
    result = copy_cli("validate", "--env", "dev")
    assert result.exit_code == 2, result.output
    assert "connector.wireguard_public_key: 'not-a-key' does not match" in result.stderr
    assert "connector.persistent_keepalive: Input should be greater than or equal to 1" in (
        result.stderr
    )


def test_a_wireguard_key_belongs_to_one_host(project_copy: Path, copy_cli: Any) -> None:
    _add_to_connector(project_copy, "pori", f"  wireguard_public_key: {KEY_A}\n")
    _add_to_connector(project_copy, "porvoo", f"  wireguard_public_key: {KEY_A}\n")
    _add_to_connector(project_copy, "kajaani", f"  wireguard_public_key: {KEY_B}\n")
    _add_to_hub(project_copy, f"  wireguard_public_key: {KEY_B}\n")
    result = copy_cli("validate", "--env", "dev")
    assert result.exit_code == 2, result.output
    assert f"WireGuard public key '{KEY_A}' is also used by" in result.stderr
    assert "kajaani.yml" in result.stderr and "is the hub's own public key" in result.stderr


def test_recorded_keys_reach_the_playbooks(project_copy: Path) -> None:
    """Keys from the catalog become the peers' keys and the keys each host must have."""
    _add_to_connector(project_copy, "pori", f"  wireguard_public_key: {KEY_A}\n")
    _add_to_hub(project_copy, f"  wireguard_public_key: {KEY_B}\n")
    view = AnsibleView("dev", root=project_copy)
    hub_host = view.inventory.groups["hub"].get_hosts()[0].name
    hub = view.role_vars("hub.yml", "wireguard", hub_host)
    spoke = view.role_vars("connector.yml", "wireguard", "iam-connector-dev.pori.fi")
    assert hub["wireguard_expected_public_key"] == KEY_B
    assert {p["name"]: p["public_key"] for p in hub["wireguard_peers"]}["pori"] == KEY_A
    assert spoke["wireguard_expected_public_key"] == KEY_A
    assert spoke["wireguard_peers"][0]["public_key"] == KEY_B
    # the playbook's default is the model's default
    keepalive = Connector.model_fields["persistent_keepalive"].default
    assert spoke["wireguard_peers"][0]["persistent_keepalive"] == keepalive
