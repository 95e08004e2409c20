"""The two halves joined: the rendered Keycloak logging employees in through the real
connector path of the connector end-to-end scenario (tests/molecule/connector_e2e).

The scenario's hosts (hub, WireGuard spokes over wireguard-go, HAProxy on the
connectors, two AD-shaped domain controllers of city A, converged by
playbooks/connector.yml and playbooks/hub.yml) stay up after its verify. The
city Keycloak is then rendered by ``ociam render`` from a scratch catalog
whose city file carries city A's own ``ldap`` and ``connector`` entries, the
same entries the playbooks read (with the scenario's test CA): its pod gets
the rendered ``hostAlias`` (LDAP name to the city's hub service address), an
address among the cluster's egress sources on the scenario's cluster network,
and the route to the hub's service network through the hub, as the cluster's
egress would give it.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.keycloak.deployment import ImageSet, RunningCity, TestValues, render, run_city
from tests.logins.city import CITY, ENV, SUBSTITUTED_SECRET, LoginCity, secret_env
from tests.realsys.pod_runner import Pod, podman
from tests.realsys.pulumi_env import copy_checkout

PROJECT_ROOT = Path(__file__).resolve().parents[2]
E2E_INVENTORY = PROJECT_ROOT / "tests" / "molecule" / "connector_e2e" / "inventory"
E2E_CITY = "citya"
CLUSTER_NETWORK = "ociam-e2e-cluster"
#: an address among the scenario's cluster.egress_cidrs (10.231.10.0/25), unused by its hosts
POD_ADDRESS = "10.231.10.40"
HUB_CLUSTER_ADDRESS = "10.231.10.2"
DOMAIN_CONTROLLERS = ("ociam-e2e-dc1", "ociam-e2e-dc2")
#: city A's directory (tests/molecule/connector_e2e/prepare.yml)
FIRST_USER = {"username": "mvirtanen", "given": "Maija", "surname": "Virtanen"}


@dataclass(frozen=True)
class Scenario:
    """What the scenario made that the city needs: its CA and passwords (test-time files)."""

    pki: Path

    def read(self, name: str) -> str:
        return (self.pki / name).read_text(encoding="utf-8").strip()


def _scratch_catalog(target: Path, scenario: Scenario) -> Path:
    """The catalog with one city in ``dev``: the demo city's realms and applications,
    with city A's ``ldap`` and ``connector`` entries exactly as the playbooks read them."""
    checkout = copy_checkout(target)
    group_vars = checkout / "inventories" / ENV / "group_vars"
    city_a = yaml.safe_load((E2E_INVENTORY / "group_vars" / f"{E2E_CITY}.yml").read_text())
    city_file = group_vars / f"{CITY}.yml"
    document = yaml.safe_load(city_file.read_text(encoding="utf-8"))
    document["ldap"] = {
        **city_a["ldap"],
        # the playbooks read it with a lookup of the same file
        "ca_certificate": (scenario.pki / "ca.pem").read_text(encoding="utf-8"),
        # OpenLDAP has no AD in-chain matching rule (tests/realsys/ad_directory.py)
        "group_membership": "member_of",
    }
    document["connector"] = city_a["connector"]
    city_file.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    # the other dev cities would collide with city A's addresses: this catalog has one city
    hosts_file = checkout / "inventories" / ENV / "hosts.yml"
    hosts = yaml.safe_load(hosts_file.read_text(encoding="utf-8"))
    cities = hosts["all"]["children"]["cities"]["children"]
    for slug in [s for s in cities if s != CITY]:
        del cities[slug]
        (group_vars / f"{slug}.yml").unlink()
    hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False), encoding="utf-8")
    return checkout


def _join_cluster_network(pod: Pod) -> None:
    infra = podman("pod", "inspect", "--format", "{{.InfraContainerID}}", pod.name).strip()
    podman("network", "connect", "--ip", POD_ADDRESS, CLUSTER_NETWORK, infra)
    pid = podman("inspect", "--format", "{{.State.Pid}}", infra).strip()
    hub_net = yaml.safe_load((E2E_INVENTORY / "group_vars" / "all.yml").read_text())["hub"][
        "service_network"
    ]
    subprocess.run(
        ["nsenter", "-t", pid, "-n", "ip", "route", "replace", hub_net, "via", HUB_CLUSTER_ADDRESS],
        check=True,
        capture_output=True,
        text=True,
    )


def start_city(work: Path, scenario: Scenario) -> LoginCity:
    """The rendered city on the scenario's cluster network, its employees realm imported."""
    checkout = _scratch_catalog(work / "checkout", scenario)
    out = work / "rendered"
    (stack,) = render(out, ENV, CITY, root=checkout)
    values = TestValues()
    # the realm's bind password is the scenario's service account's
    values.values[(SUBSTITUTED_SECRET, secret_env("ldapBindPassword"))] = scenario.read(
        f"{E2E_CITY}-bind-password"
    )
    running: RunningCity = run_city(
        stack, 1, images=ImageSet.for_stacks([stack]), values=values, work_root=work,
        index=3, hold_seconds=0,
    )  # fmt: skip
    try:
        _join_cluster_network(running.pod)
        city = LoginCity(checkout, out, running, values, [], {})
        city.apply_realm("employees")
    except BaseException:
        running.deployment.close()
        raise
    return city
