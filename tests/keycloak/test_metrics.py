"""Every metric the rendered alerts and the ServiceMonitor use is one Keycloak serves.

The rules of the ``ha`` prod city (monitoring is on in prod) are parsed with a
real PromQL parser; each vector selector must find a series in what the pods
serve on the port the ServiceMonitor scrapes, with the labels it matches on,
after the events the rule watches have happened (a failed login for the
login-failure alert). Series that no Keycloak pod exports are named here with
the component that exports them; a new unknown one fails the test.
"""

from __future__ import annotations

import pytest

from tests.keycloak.browser import password_login
from tests.keycloak.conftest import RunningCity
from tests.keycloak.metrics import Sample, Selector, scrape, selectors
from tests.keycloak.probe_realm import create_probe_realm

pytestmark = pytest.mark.keycloak

#: series in the rules that Keycloak does not export, and who does (none runs here)
OTHER_EXPORTERS = {
    "up": "Prometheus, one per scrape target",
    "cnpg_collector_up": "CloudNativePG's instance exporter (the PodMonitor's port 'metrics')",
    "barman_cloud_cloudnative_pg_io_last_available_backup_timestamp": (
        "the Barman Cloud plugin's instance sidecar"
    ),
}
#: labels Prometheus adds to every series of a ServiceMonitor target
TARGET_LABELS = frozenset(
    {"namespace", "service", "pod", "container", "endpoint", "job", "instance"}
)


def _monitored_port(city: RunningCity) -> tuple[str, int]:
    """The Service the ServiceMonitor selects that has its endpoint port, and that port."""
    stack = city.deployment.stack
    monitor = stack.one("ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    wanted = monitor["spec"]["selector"]["matchLabels"]
    scraped = [
        s
        for s in stack.all("Service")
        if wanted.items() <= s["metadata"]["labels"].items()
        and any(p["name"] == endpoint["port"] for p in s["spec"]["ports"])
    ]
    assert len(scraped) == 1, [s["metadata"]["name"] for s in scraped]
    service = scraped[0]
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    container = city.pod.spec["containers"][0]
    (target,) = [p for p in container["ports"] if p["name"] == port["targetPort"]]
    assert endpoint["path"] == "/metrics"
    return service["metadata"]["name"], int(target["containerPort"])


def _rule_selectors(city: RunningCity) -> list[tuple[str, Selector]]:
    rule = city.deployment.stack.one("PrometheusRule")
    return [
        (r["alert"], s)
        for group in rule["spec"]["groups"]
        for r in group["rules"]
        for s in selectors(r["expr"])
    ]


@pytest.fixture(scope="module")
def served(ha: RunningCity) -> list[Sample]:
    deployment = ha.deployment
    probe = create_probe_realm(deployment.bootstrap_admin(), users=1)
    (user, password), *_ = probe.users.items()
    for attempt_password in ("wrong-password", password):
        result = password_login(
            deployment.browser(extra_routes=[probe.route(deployment.public_host)]),
            issuer=probe.issuer(deployment.public_host),
            client_id=probe.client_id,
            redirect_uri=probe.redirect_uri,
            username=user,
            password=attempt_password,
        )
        assert result.ok == (attempt_password == password), result.errors
    _, port = _monitored_port(ha)
    return [s for pod in ha.pods for s in scrape(pod.ip or "", port)]


def test_every_rule_selector_finds_what_keycloak_serves(
    ha: RunningCity, served: list[Sample]
) -> None:
    names = {s.name for s in served}
    checked = []
    for alert, selector in _rule_selectors(ha):
        if selector.name in OTHER_EXPORTERS:
            continue
        assert selector.name in names, f"{alert}: Keycloak serves no {selector.name}"
        matching = [s for s in served if selector.matches(s, ignore=TARGET_LABELS)]
        assert matching, f"{alert}: no series of {selector.name} matches {selector.matchers}"
        for label, _, _ in selector.matchers:
            if label not in TARGET_LABELS:
                assert all(label in s.labels for s in matching), (alert, label)
        checked.append(selector.name)
    assert "keycloak_user_events_total" in checked


def test_series_from_other_exporters_are_only_the_known_ones(ha: RunningCity) -> None:
    service, _ = _monitored_port(ha)
    namespace = ha.deployment.namespace
    foreign = {s.name for _, s in _rule_selectors(ha)} - {"keycloak_user_events_total"}
    assert foreign <= set(OTHER_EXPORTERS), foreign - set(OTHER_EXPORTERS)
    for _, selector in _rule_selectors(ha):
        labels = {label: value for label, op, value in selector.matchers if op == "="}
        assert labels.get("namespace") == namespace, selector
        if selector.name == "up":
            # the `up` series exists only for the Service the ServiceMonitor scrapes
            assert labels.get("service") == service, selector


def test_the_pods_report_each_other_as_cluster_members(
    ha: RunningCity, served: list[Sample]
) -> None:
    sizes = [s.value for s in served if s.name == "vendor_cluster_size"]
    assert sizes == [float(len(ha.pods))] * len(ha.pods), sizes
