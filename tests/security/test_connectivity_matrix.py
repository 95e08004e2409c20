"""Who can reach whom, computed by np-guard's netpol-analyzer from the rendered
NetworkPolicies of every city of every environment, held to tests/security/
expected_flows.yaml, and the denials every city must have whatever the data says."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from ociam.catalog import ENVIRONMENTS, EnvironmentCatalog
from ociam.catalog.environment import EnvironmentSettings
from ociam.components.keycloak import JGROUPS_FD_PORT, JGROUPS_PORT
from ociam.render.service import RenderedCity
from tests.realsys.netpol import Connection, is_selector, selector_namespace
from tests.security.flows import allows, assert_matrix, load_expected
from tests.security.matrix import Analysis, analyze, city_matrix
from tests.security.peers import NS_LABEL, OTHER_NAMESPACE, Peer
from tests.security.seed import all_stacks

EXPECTED = load_expected()
KEYCLOAK = "keycloak"
DATABASE = "keycloak-db"
HTTP_PORT = 8080


def _ends(analysis: Analysis, src: str, dst: str) -> tuple[Peer | None, Peer | None]:
    return analysis.peer(src), analysis.peer(dst)


def test_the_expected_data_covers_exactly_the_seed_cities() -> None:
    assert {(env, city) for env, cities in EXPECTED.items() for city in cities} == set(all_stacks())


@pytest.mark.parametrize(("env", "city"), sorted(all_stacks()))
def test_every_city_has_exactly_the_expected_flows(
    env: str, city: str, analyses: dict[str, Analysis]
) -> None:
    actual = city_matrix(analyses[env], f"iam-{city}")
    assert_matrix(f"{env}/{city}", EXPECTED[env][city], actual)


def _exposed(analysis: Analysis) -> list[tuple[str | None, Peer, Connection]]:
    """The exposure lines as (namespace the selector is confined to, None for any
    namespace; the pod at the other end; the line). IP ranges are left out: the
    connection list has them already."""
    found = []
    for c in analysis.exposure:
        for selector, pod in ((c.src, c.dst), (c.dst, c.src)):
            if is_selector(selector) and not is_selector(pod):
                end = analysis.peer(pod)
                if end is not None:
                    found.append((selector_namespace(selector), end, c))
    return found


def city_crossings(analysis: Analysis) -> list[str]:
    """Connections between pods of two cities, and exposure that lets a city's pod
    reach or be reached by pods of another city's namespace or of any namespace."""
    crossing = [
        str(c)
        for c in analysis.connections
        if (ends := _ends(analysis, c.src, c.dst))[0] is not None
        and ends[1] is not None
        and ends[0].namespace.startswith("iam-")
        and ends[1].namespace.startswith("iam-")
        and ends[0].namespace != ends[1].namespace
    ]
    crossing += [
        str(c)
        for namespace, pod, c in _exposed(analysis)
        if pod.namespace.startswith("iam-")
        and (namespace is None or (namespace.startswith("iam-") and namespace != pod.namespace))
    ]
    return crossing


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_city_reaches_another_city_either_way(env: str, analyses: dict[str, Analysis]) -> None:
    analysis = analyses[env]
    assert city_crossings(analysis) == []
    # the analysis had more than one city to cross between
    assert len({p.namespace for p in analysis.peers if p.namespace.startswith("iam-")}) > 1


def database_intruders(analysis: Analysis, settings: EnvironmentSettings) -> list[str]:
    """What reaches a city's database from outside its namespace but the CNPG
    operator's namespace and the monitoring namespace's scrapes on 9187: modelled pods,
    addresses, and (exposure) namespaces or pod labels no modelled pod stands for."""
    operator = settings.cluster.cnpg_operator_namespace
    metrics = settings.monitoring.namespace

    def accepted(namespace: str | None, dst: Peer, conn: str) -> bool:
        return namespace in (dst.namespace, operator) or (
            namespace == metrics and conn == "TCP 9187"
        )

    wrong = []
    for c in analysis.connections:
        src, dst = _ends(analysis, c.src, c.dst)
        if dst is None or dst.name != DATABASE:
            continue
        if src is None or not accepted(src.namespace, dst, c.conn):
            wrong.append(str(c))
    wrong += [
        str(c)
        for namespace, pod, c in _exposed(analysis)
        if pod.name == DATABASE and not is_selector(c.dst) and not accepted(namespace, pod, c.conn)
    ]
    return wrong


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_other_namespace_or_address_reaches_the_database(
    env: str, analyses: dict[str, Analysis], catalogs: dict[str, EnvironmentCatalog]
) -> None:
    analysis = analyses[env]
    assert database_intruders(analysis, catalogs[env].settings) == []
    probe = [p for p in analysis.peers if p.namespace == OTHER_NAMESPACE]
    assert probe, "the analysis has a workload in another namespace"
    # the exposure analysis ran: the operator's namespace is admitted as a whole
    operator = catalogs[env].settings.cluster.cnpg_operator_namespace
    assert any(ns == operator and pod.name == DATABASE for ns, pod, _ in _exposed(analysis))


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_keycloaks_http_port_is_reached_from_outside_only_through_the_gateway(
    env: str, analyses: dict[str, Analysis], catalogs: dict[str, EnvironmentCatalog]
) -> None:
    """The admin console and API are served on Keycloak's HTTP port; from outside the
    city only the gateway's proxies reach it (where the admin hostname's allowlist is
    enforced), inside it only the realm configuration Jobs; no rule admits it to
    pods by a selector beyond the modelled ones (exposure)."""
    analysis = analyses[env]
    proxies = catalogs[env].settings.gateway.proxy_namespace
    wrong = []
    for c in analysis.connections:
        src, dst = _ends(analysis, c.src, c.dst)
        if dst is None or dst.name != KEYCLOAK or not allows(c.conn, "TCP", HTTP_PORT):
            continue
        if src is not None and src.namespace == proxies and src.pod == "envoy-proxy":
            continue
        if (
            src is not None
            and src.namespace == dst.namespace
            and src.name.startswith("realm-config-")
        ):
            continue
        wrong.append(str(c))
    wrong += [
        str(c)
        for _, pod, c in _exposed(analysis)
        if pod.name == KEYCLOAK and is_selector(c.src) and allows(c.conn, "TCP", HTTP_PORT)
    ]
    assert wrong == []
    # and Keycloak's pods reach each other on the clustering ports only
    between = {
        c.conn
        for c in analysis.connections
        if (ends := _ends(analysis, c.src, c.dst))[0] is not None
        and ends[1] is not None
        and ends[0].name == ends[1].name == KEYCLOAK
        and ends[0].namespace == ends[1].namespace
    }
    assert between == {f"TCP {JGROUPS_PORT},{JGROUPS_FD_PORT}"}


def _demo_with(change: Any, city_renders: dict[tuple[str, str], RenderedCity]) -> dict[str, Any]:
    renders: dict[str, Any] = {
        slug: list(r.objects) for (env, slug), r in city_renders.items() if env == "dev"
    }
    demo = copy.deepcopy(renders["demo"])
    change({o["metadata"]["name"]: o for o in demo if o["kind"] == "NetworkPolicy"})
    renders["demo"] = demo
    return renders


def _policy_change_fails(
    change: Any,
    catalogs: dict[str, EnvironmentCatalog],
    city_renders: dict[tuple[str, str], RenderedCity],
) -> tuple[str, Analysis]:
    analysis = analyze(catalogs["dev"], _demo_with(change, city_renders))
    with pytest.raises(AssertionError) as failure:
        assert_matrix("dev/demo", EXPECTED["dev"]["demo"], city_matrix(analysis, "iam-demo"))
    return str(failure.value), analysis


def test_a_policy_that_opens_a_flow_fails_until_the_data_says_so(
    catalogs: dict[str, EnvironmentCatalog], city_renders: dict[tuple[str, str], RenderedCity]
) -> None:
    def open_database(policies: dict[str, Any]) -> None:
        rules = policies["postgres-ingress"]["spec"]["ingress"]
        rules.append({"from": [{"namespaceSelector": {}}], "ports": [{"port": 5432}]})

    message, _ = _policy_change_fails(open_database, catalogs, city_renders)
    assert f"opened (not in expected data): {OTHER_NAMESPACE}/workload -> {DATABASE}" in message
    assert "closed" not in message


def test_a_policy_that_closes_a_flow_fails_until_the_data_says_so(
    catalogs: dict[str, EnvironmentCatalog], city_renders: dict[tuple[str, str], RenderedCity]
) -> None:
    def close_issuance(policies: dict[str, Any]) -> None:
        policies["acme-http01-solver-ingress"]["spec"]["ingress"] = []

    message, _ = _policy_change_fails(close_issuance, catalogs, city_renders)
    assert (
        "closed (expected data has it): envoy-gateway-system/envoy-proxy -> acme-http01-solver"
        " : TCP 8089" in message
    )
    assert "opened" not in message


def test_a_policy_that_opens_the_database_to_pods_nobody_models_fails(
    catalogs: dict[str, EnvironmentCatalog],
    city_renders: dict[tuple[str, str], RenderedCity],
    analyses: dict[str, Analysis],
) -> None:
    """A rule admitting a namespace that runs no modelled pod (the shared Gateway's),
    or any namespace by a label, opens no modelled connection; the exposure analysis
    still shows it, so the matrix and the database denial both fail."""
    gateway_namespace = catalogs["dev"].settings.gateway.namespace

    def open_database(policies: dict[str, Any]) -> None:
        rules = policies["postgres-ingress"]["spec"]["ingress"]
        for selector in ({NS_LABEL: gateway_namespace}, {"team": "x"}):
            rules.append(
                {
                    "from": [{"namespaceSelector": {"matchLabels": selector}}],
                    "ports": [{"port": 5432}],
                }
            )

    message, analysis = _policy_change_fails(open_database, catalogs, city_renders)
    assert not any(p.namespace == gateway_namespace for p in analysis.peers)
    opened = [
        f"{gateway_namespace}/[all pods] -> {DATABASE} : TCP 5432",
        f"[namespace with {{team=x}}]/[all pods] -> {DATABASE} : TCP 5432",
    ]
    for line in opened:
        assert f"opened (not in expected data): {line}" in message
    assert "closed" not in message
    # no modelled pod gained a connection: only the exposure analysis sees the change
    assert analysis.connections == analyses["dev"].connections
    intruders = database_intruders(analysis, catalogs["dev"].settings)
    assert intruders and all("iam-demo/keycloak-db-" in line for line in intruders)
    assert {line.split(" => ")[0] for line in intruders} == {
        f"{gateway_namespace}/[all pods]",
        "[namespace with {team=x}]/[all pods]",
    }
