"""The five checks of the connector path (issue 6), against live containers.

Run by Molecule's verifier after converge and idempotence (check 5 is
Molecule's idempotence step; check mode is verified here too). The checks
that restart things come last. Bounds:
  - failover: at most one failed bind+search while a DC goes away;
  - tunnel recovery: LDAPS through the path of both cities again within 30 s
    of a hub restart (the hub restores the spokes' endpoints and handshakes
    itself; without that the spokes' probe would take probe interval 10 s +
    WireGuard's 15 s + 5 s retry after boot), within 30 s of a connector
    restart (the spoke handshakes as soon as its tunnel is up).
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
from e2e import (
    CLIENTS,
    CONNECTORS,
    DCS,
    ENV,
    EPHEMERAL,
    HUB,
    HUB_CLUSTER_ADDRESS,
    LAN_ADDRESS,
    SCENARIO,
    City,
    ensure_password,
    haproxy_servers,
    ldapsearch,
    ldapsearch_script,
    record,
    run,
    sh,
    tcp_connects,
    tls_peer,
    wait_for,
)

CITYA, CITYB = City("citya"), City("cityb")
HUB_RECOVERY_BOUND_S = 30
CONNECTOR_RECOVERY_BOUND_S = 30
MAX_FAILED_DURING_FAILOVER = 1


@pytest.fixture(scope="module", autouse=True)
def passwords() -> None:
    for slug, client in CLIENTS.items():
        ensure_password(client, City(slug))
    # client (citya's source) also tries cityb's address, with cityb's credentials
    ensure_password(CLIENTS["citya"], CITYB)


def path_works(client: str, city: City) -> bool:
    return ldapsearch(client, city, timeout=3).returncode == 0


# --- 1. a bind and a search through hub, tunnel and connector -----------------


@pytest.mark.parametrize("city", [CITYA, CITYB], ids=lambda c: c.slug)
def test_1_bind_and_search_through_the_path(city: City) -> None:
    result = ldapsearch(CLIENTS[city.slug], city)
    assert result.returncode == 0, result.stderr
    assert re.search(rf"^mail: \w+@{city.slug}\.test$", result.stdout, re.M), result.stdout
    assert re.search(r"^memberOf: CN=IAM-Users,OU=Groups,", result.stdout, re.M | re.I)


def test_1_certificate_verification_is_real() -> None:
    client = CLIENTS["citya"]
    # the system CAs do not know the test CA: the same search must fail
    script = "LDAPTLS_CACERT=/etc/ssl/certs/ca-certificates.crt " + ldapsearch_script(CITYA)
    result = sh(client, script)
    assert result.returncode != 0
    assert "Can't contact LDAP server" in result.stderr or "certificate" in result.stderr
    # the name Keycloak verifies is on the certificate the DC presents through the path
    peer = tls_peer(client, CITYA.service_address, CITYA.tls_name)
    assert peer["ok"], peer
    assert CITYA.tls_name in peer["san"]


def test_1_anonymous_reads_nothing() -> None:
    # the DCs behave like AD: binding anonymously works (HAProxy's check) but shows nothing
    result = sh(
        CLIENTS["citya"], f"ldapsearch -LLL -x -H {CITYA.url} -b {CITYA.users_dn} '(uid=*)' dn"
    )
    assert result.returncode in (0, 32), result.stderr
    assert "dn:" not in result.stdout


# --- 4. isolation ----------------------------------------------------------------


def test_4_positive_control() -> None:
    assert tcp_connects(CLIENTS["citya"], CITYA.service_address, 636)
    assert tcp_connects(CLIENTS["cityb"], CITYB.service_address, 636)


def test_4_lan_neighbour_cannot_reach_connector_ldaps() -> None:
    connector, dc = CONNECTORS["citya"], DCS["citya"][0]
    listening = sh(connector, "ss -Htln 'sport = :636'").stdout
    assert f"{CITYA.tunnel_address}:636" in listening and "0.0.0.0:636" not in listening
    # its LAN address has no listener and the firewall drops it
    assert not tcp_connects(dc, LAN_ADDRESS[connector], 636)
    # a neighbour routing the tunnel address to the connector's LAN side: HAProxy
    # does listen on that address, only nftables (iifname wg0, hub source) stops it
    sh(dc, f"ip route replace {CITYA.tunnel_address}/32 via {LAN_ADDRESS[connector]}")
    try:
        assert not tcp_connects(dc, CITYA.tunnel_address, 636)
    finally:
        sh(dc, f"ip route del {CITYA.tunnel_address}/32")


def test_4_cluster_source_cannot_reach_a_connector_directly() -> None:
    client = CLIENTS["citya"]
    network = ENV["hub"]["tunnel_network"]
    sh(client, f"ip route replace {network} via {HUB_CLUSTER_ADDRESS}")
    try:
        assert not tcp_connects(client, CITYA.tunnel_address, 636)
        assert not tcp_connects(client, CITYB.tunnel_address, 636)
    finally:
        sh(client, f"ip route del {network}")


def test_4_each_city_address_only_for_its_own_sources() -> None:
    # client is a source of citya only, client2 of cityb only
    assert not tcp_connects(CLIENTS["citya"], CITYB.service_address, 636)
    assert not tcp_connects(CLIENTS["cityb"], CITYA.service_address, 636)
    assert path_works(CLIENTS["cityb"], CITYB)
    assert (
        ldapsearch(
            CLIENTS["citya"], CITYB, url=f"ldaps://{CITYB.tls_name}:636", timeout=4
        ).returncode
        != 0
    )


def test_4_one_city_address_reaches_only_its_own_connector() -> None:
    client = CLIENTS["citya"]
    # citya's address presents citya's DC certificate; cityb's name does not verify there
    own = tls_peer(client, CITYA.service_address, CITYA.tls_name)
    assert own["ok"] and CITYB.tls_name not in own["san"], own
    other = tls_peer(client, CITYA.service_address, CITYB.tls_name)
    assert not other["ok"] and "match" in other["error"], other
    # and holds citya's directory only: cityb's tree does not exist behind it
    result = ldapsearch(client, CITYA, base=CITYB.users_dn, filter_="(objectClass=*)")
    assert result.returncode == 32, (result.returncode, result.stdout, result.stderr)
    # nothing but LDAPS on a city address
    for port in (22, 389, 8404, 51820):
        assert not tcp_connects(client, CITYA.service_address, port, seconds=2), port


def test_4_a_connector_cannot_reach_another_city_through_the_hub() -> None:
    """A compromised city B connector widens its own tunnel routes: the hub's
    forwarding policy still drops everything from the tunnels to the tunnels."""
    connector = CONNECTORS["cityb"]
    peer = sh(connector, "wg show wg0 peers").stdout.strip()
    widened = (
        f"wg set wg0 peer {peer} allowed-ips "
        f"{ENV['hub']['tunnel_network']},{ENV['hub']['service_network']}"
        f" && ip route replace {ENV['hub']['service_network']} dev wg0"
    )
    assert sh(connector, widened).returncode == 0
    try:
        assert not tcp_connects(connector, CITYA.tunnel_address, 636)
        assert not tcp_connects(connector, CITYA.service_address, 636)
        assert not tcp_connects(connector, CITYB.service_address, 636)
    finally:
        restore = (
            f"ip route del {ENV['hub']['service_network']} dev wg0; systemctl reload wg-quick@wg0"
        )
        sh(connector, restore)
    assert (
        sh(connector, "wg show wg0 allowed-ips").stdout.split()[-1]
        == f"{ENV['hub']['tunnel_address']}/32"
    )
    assert wait_for(lambda: path_works(CLIENTS["cityb"], CITYB), 30) is not None


# --- hygiene of what the roles left on the hosts ----------------------------------


@pytest.mark.parametrize("host", [HUB, *CONNECTORS.values()])
def test_private_key_stays_private(host: str) -> None:
    result = sh(
        host,
        "stat -c '%a %U' /etc/wireguard/wg0.key;"
        " grep -c PrivateKey /etc/wireguard/wg0.conf || true",
    )
    mode_owner, count = result.stdout.split("\n")[:2]
    assert mode_owner == "600 root"
    assert count.strip() == "0"
    assert sh(host, "wg show wg0 private-key").stdout.strip() not in ("", "(none)")


@pytest.mark.parametrize("connector", list(CONNECTORS.values()))
def test_haproxy_sandboxed_metrics_local(connector: str) -> None:
    exposure = sh(connector, "systemd-analyze security haproxy.service | tail -1").stdout
    match = re.search(r"exposure level for haproxy.service: ([\d.]+)", exposure)
    assert match and float(match.group(1)) <= 4.0, exposure
    listening = sh(connector, "ss -Htln").stdout
    assert "127.0.0.1:8404" in listening and "0.0.0.0:8404" not in listening
    metrics = sh(
        connector,
        'python3 -c "import urllib.request as u;'
        "print(u.urlopen('http://127.0.0.1:8404/metrics').read().decode())\"",
    ).stdout
    assert "haproxy_backend_active_servers" in metrics
    journal = sh(connector, "journalctl -u haproxy -o cat --no-pager | tail -200").stdout
    assert "ldaps" in journal  # tcplog lines of the connections above reach journald


def test_cityb_absent_dc_is_marked_down() -> None:
    states = haproxy_servers(CONNECTORS["cityb"])
    assert states["dc1.ad.cityb.test"] == "UP"
    assert states["dc2.ad.cityb.test"].startswith("DOWN")


# --- check mode: a dry run over the converged hosts changes nothing ------------------


def test_5_check_mode_reports_no_changes() -> None:
    inventory = EPHEMERAL / "inventory"
    result = run(
        "ansible-playbook",
        "-i",
        str(inventory),
        "--check",
        "--diff",
        str(SCENARIO / "converge.yml"),
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    recap = result.stdout[result.stdout.rfind("PLAY RECAP") :]
    changed = [line for line in recap.splitlines() if re.search(r"changed=[1-9]", line)]
    assert not changed, recap


# --- 2. failover ------------------------------------------------------------------


def _loop_during(
    client: str, city: City, action, attempts: int, start_after: float
) -> list[tuple[int, float]]:
    """Sequential bind+search attempts (each a new LDAPS connection) while action() runs."""
    script = (
        f"for i in $(seq 1 {attempts}); do s=$(date +%s%N); "
        f"{ldapsearch_script(city, timeout=15)} >/dev/null 2>&1; rc=$?; "
        'e=$(date +%s%N); echo "$rc $(( (e - s) / 1000000 ))"; sleep 0.2; done'
    )
    loop = subprocess.Popen(
        ["podman", "exec", client, "bash", "-c", script], stdout=subprocess.PIPE, text=True
    )
    time.sleep(start_after)
    action()
    out, _ = loop.communicate(timeout=600)
    return [(int(rc), int(ms)) for rc, ms in (line.split() for line in out.splitlines())]


def _wait_dc_state(connector: str, server: str, prefix: str) -> None:
    waited = wait_for(lambda: haproxy_servers(connector)[server].startswith(prefix), 30)
    assert waited is not None, f"{server} not {prefix}: {haproxy_servers(connector)}"


def test_2_failover_when_slapd_stops() -> None:
    client, connector, dc = CLIENTS["citya"], CONNECTORS["citya"], DCS["citya"][0]
    results = _loop_during(client, CITYA, lambda: sh(dc, "systemctl stop slapd"), 40, 2)
    failed = [r for r in results if r[0] != 0]
    record("failover_slapd_stopped_attempts", len(results))
    record("failover_slapd_stopped_failed", len(failed))
    record("failover_slapd_stopped_max_ms", max(ms for _, ms in results))
    assert len(results) == 40
    assert len(failed) <= MAX_FAILED_DURING_FAILOVER, results
    _wait_dc_state(connector, "dc1.ad.citya.test", "DOWN")
    sh(dc, "systemctl start slapd")
    _wait_dc_state(connector, "dc1.ad.citya.test", "UP")


def test_2_failover_when_a_dc_host_disappears() -> None:
    client, connector, dc = CLIENTS["citya"], CONNECTORS["citya"], DCS["citya"][1]
    results = _loop_during(client, CITYA, lambda: run("podman", "stop", "-t", "0", dc), 40, 2)
    failed = [r for r in results if r[0] != 0]
    record("failover_dc_host_stopped_attempts", len(results))
    record("failover_dc_host_stopped_failed", len(failed))
    record("failover_dc_host_stopped_max_ms", max(ms for _, ms in results))
    try:
        assert len(failed) <= MAX_FAILED_DURING_FAILOVER, results
        _wait_dc_state(connector, "dc2.ad.citya.test", "DOWN")
    finally:
        run("podman", "start", dc, check=True)
    _wait_dc_state(connector, "dc2.ad.citya.test", "UP")


# --- 3. the tunnel comes back by itself --------------------------------------------


def _restart_and_time(container: str, bound: float, name: str) -> None:
    assert path_works(CLIENTS["citya"], CITYA)
    run("podman", "restart", "-t", "20", container, timeout=120, check=True)
    # from the moment podman has started the container again; each city on its own
    # (a city waits for its path, and the time counts until both work)
    start = time.monotonic()
    for slug, city in (("citya", CITYA), ("cityb", CITYB)):
        waited = wait_for(lambda c=city, s=slug: path_works(CLIENTS[s], c), bound + 30, 0.5)
        assert waited is not None, f"{name}: {slug} not back after {bound + 30} s"
    seconds = time.monotonic() - start
    record(name, round(seconds, 1))
    assert seconds <= bound, f"{name}: {seconds:.1f} s"


def test_3_tunnel_recovers_after_connector_service_restart() -> None:
    sh(CONNECTORS["citya"], "systemctl restart wg-quick@wg0")
    seconds = wait_for(lambda: path_works(CLIENTS["citya"], CITYA), 30, interval=1)
    record("recovery_after_connector_wg_restart_s", None if seconds is None else round(seconds, 1))
    assert seconds is not None


def test_3_tunnel_recovers_after_hub_restart() -> None:
    _restart_and_time(HUB, HUB_RECOVERY_BOUND_S, "recovery_after_hub_restart_s")


def test_3_tunnel_recovers_after_connector_restart() -> None:
    _restart_and_time(
        CONNECTORS["citya"], CONNECTOR_RECOVERY_BOUND_S, "recovery_after_connector_restart_s"
    )


def test_environment_is_molecule() -> None:
    assert Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]).is_dir()
