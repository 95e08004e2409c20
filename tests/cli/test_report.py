"""``ociam report``: figures from the rendered manifests, the cost split, formats and chart.

The seed catalog is rendered once per session (``ociam render --all --out``); the
expectations are computed here from those files with code of the test's own."""

from __future__ import annotations

import csv
import io
import json
import re
import struct
import xml.etree.ElementTree as ET
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from ociam.catalog import ENVIRONMENTS
from tests.support import Cli, snapshot

GIB = Decimal(2**30)
UNITS = {"": 1, "m": Decimal("0.001"), "M": 10**6, "G": 10**9, "Mi": 2**20, "Gi": 2**30}


def _quantity(value: Any) -> Decimal:
    number, unit = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", str(value)).groups()  # type: ignore[union-attr]
    return Decimal(number) * UNITS[unit]


def _res(container: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal, Decimal]:
    resources = container["resources"]
    return (
        _quantity(resources["requests"]["cpu"]),
        _quantity(resources["limits"]["cpu"]),
        _quantity(resources["requests"]["memory"]),
        _quantity(resources["limits"]["memory"]),
    )


def _pod(spec: dict[str, Any]) -> list[Decimal]:
    """Effective pod figures: containers summed, the largest init container if larger.
    (Exact for the seed: its init containers are not sidecars, asserted here.)"""
    summed = [Decimal(0)] * 4
    for container in spec["containers"]:
        summed = [a + b for a, b in zip(summed, _res(container), strict=True)]
    for init in spec.get("initContainers", []):
        assert init.get("restartPolicy") != "Always"
        summed = [max(a, b) for a, b in zip(summed, _res(init), strict=True)]
    return summed


def _resources(summed: list[Decimal]) -> dict[str, int]:
    """Summed (CPU request, CPU limit, memory request, memory limit) as the report's JSON."""
    return {
        "cpu_requests_millicores": int(summed[0] * 1000),
        "cpu_limits_millicores": int(summed[1] * 1000),
        "memory_requests_bytes": int(summed[2]),
        "memory_limits_bytes": int(summed[3]),
    }


def _expected_city(directory: Path) -> dict[str, Any]:
    """Figures of one rendered city, straight from its files."""
    objects = [
        o
        for o in yaml.load_all(
            (directory / "manifests.yaml").read_text("utf-8"),
            Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader),
        )
        if o
    ]
    kinds: dict[str, list[dict[str, Any]]] = {}
    for obj in objects:
        kinds.setdefault(obj["kind"], []).append(obj)
    running = [Decimal(0)] * 4
    jobs = [Decimal(0)] * 4
    replicas = 0
    for sts in kinds.get("StatefulSet", []):
        assert sts["metadata"]["labels"]["app.kubernetes.io/name"] == "keycloak"
        replicas += sts["spec"]["replicas"]
        pod = _pod(sts["spec"]["template"]["spec"])
        running = [a + b * sts["spec"]["replicas"] for a, b in zip(running, pod, strict=True)]
    for job in kinds.get("Job", []):
        pod = _pod(job["spec"]["template"]["spec"])
        jobs = [a + b for a, b in zip(jobs, pod, strict=True)]
    assert not kinds.get("Deployment") and not kinds.get("CronJob")
    instances = 0
    storage = Decimal(0)
    stores = {s["metadata"]["name"]: s for s in kinds.get("ObjectStore", [])}
    for cluster in kinds.get("Cluster", []):
        spec = cluster["spec"]
        per_pod = list(_res({"resources": spec["resources"]}))
        for plugin in spec.get("plugins", []):
            store = stores[plugin["parameters"]["barmanObjectName"]]
            sidecar = _res(store["spec"]["instanceSidecarConfiguration"])
            per_pod = [a + b for a, b in zip(per_pod, sidecar, strict=True)]
        instances += spec["instances"]
        storage += _quantity(spec["storage"]["size"]) * spec["instances"]
        running = [a + b * spec["instances"] for a, b in zip(running, per_pod, strict=True)]
    realms = {}
    for path in sorted(directory.glob("realm-*.json")):
        data = json.loads(path.read_text("utf-8"))
        realms[data["realm"]] = (
            sorted(c["clientId"] for c in data.get("clients", [])),
            sorted(i["alias"] for i in data.get("identityProviders", [])),
        )
    retention = [s["spec"]["retentionPolicy"] for s in stores.values()]
    return {
        "keycloak_replicas": replicas,
        "long_running": _resources(running),
        "jobs": _resources(jobs),
        "database": {"instances": instances, "storage_bytes": int(storage)},
        "backup_retention": retention[0] if retention else None,
        "realms": realms,
        "applications": sum(len(a) for a, _ in realms.values()),
        "identity_brokers": sum(len(b) for _, b in realms.values()),
    }


@pytest.fixture(scope="session")
def rendered(project_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seed catalog of every environment, rendered once."""
    out = tmp_path_factory.mktemp("report-render")
    cli = Cli(project_root)
    for env in ENVIRONMENTS:
        result = cli("render", "--env", env, "--all", "--out", str(out))
        assert result.exit_code == 0, result.output
    return out


@pytest.fixture(scope="session")
def all_envs_report(project_root: Path, rendered: Path) -> dict[str, Any]:
    result = Cli(project_root)("report", "--all-envs", "--from", str(rendered), "-o", "json")
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def _all_yml(root: Path, env: str) -> dict[str, Any]:
    path = root / "inventories" / env / "group_vars" / "all.yml"
    data: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    return data


def test_figures_are_the_sums_over_the_rendered_manifests(
    all_envs_report: dict[str, Any], rendered: Path
) -> None:
    grand: dict[str, int] = {"cpu": 0, "memory": 0, "replicas": 0, "storage": 0, "apps": 0}
    assert [e["env"] for e in all_envs_report["environments"]] == list(ENVIRONMENTS)
    for env in all_envs_report["environments"]:
        cities = {c["city"]: c for c in env["cities"]}
        assert sorted(cities) == sorted(p.name for p in (rendered / env["env"]).iterdir())
        env_cpu = 0
        for slug, city in cities.items():
            expected = _expected_city(rendered / env["env"] / slug)
            where = f"{env['env']}/{slug}"
            assert city["keycloak_replicas"] == expected["keycloak_replicas"], where
            assert city["long_running"] == expected["long_running"], where
            assert city["jobs"] == expected["jobs"], where  # requests and limits
            assert expected["jobs"]["cpu_limits_millicores"] > 0, where  # every city has jobs
            assert city["database"] == expected["database"], where
            assert city["backup"]["retention"] == expected["backup_retention"], where
            realms = {
                r["name"]: (
                    sorted(a["client_id"] for a in r["applications"]),
                    sorted(b["alias"] for b in r["identity_brokers"]),
                )
                for r in city["realms"]
            }
            assert realms == expected["realms"], where
            assert city["applications"] == expected["applications"], where
            assert city["identity_brokers"] == expected["identity_brokers"], where
            env_cpu += expected["long_running"]["cpu_requests_millicores"]
            grand["cpu"] += expected["long_running"]["cpu_requests_millicores"]
            grand["memory"] += expected["long_running"]["memory_requests_bytes"]
            grand["replicas"] += expected["keycloak_replicas"]
            grand["storage"] += expected["database"]["storage_bytes"]
            grand["apps"] += expected["applications"]
            for key, value in expected["jobs"].items():
                grand[f"jobs {key}"] = grand.get(f"jobs {key}", 0) + value
        assert env["totals"]["cities"] == len(cities)
        assert env["totals"]["long_running"]["cpu_requests_millicores"] == env_cpu
    totals = all_envs_report["totals"]
    assert totals["long_running"]["cpu_requests_millicores"] == grand["cpu"]
    assert totals["long_running"]["memory_requests_bytes"] == grand["memory"]
    assert totals["keycloak_replicas"] == grand["replicas"]
    assert totals["database_storage_bytes"] == grand["storage"]
    assert totals["applications"] == grand["apps"]
    assert {f"jobs {key}": value for key, value in totals["jobs"].items()} == {
        key: value for key, value in grand.items() if key.startswith("jobs ")
    }
    assert totals["cities"] == sum(len(e["cities"]) for e in all_envs_report["environments"])


def test_seed_figures_are_plausible(all_envs_report: dict[str, Any]) -> None:
    """Guard against an expectation that is wrong the same way as the code: known figures."""
    prod = {c["city"]: c for c in all_envs_report["environments"][2]["cities"]}
    pori = prod["pori"]  # size profile ha
    assert pori["keycloak_replicas"] == 3
    assert pori["database"]["instances"] == 3
    assert pori["database"]["storage_bytes"] == 3 * 10 * 2**30
    assert pori["backup"]["retention"] == "30d"
    assert {r["name"] for r in pori["realms"]} == {"employees", "residents"}
    demo = all_envs_report["environments"][0]["cities"][0]
    assert demo["city"] == "demo"
    brokers = {b["alias"] for r in demo["realms"] for b in r["identity_brokers"]}
    assert brokers == {"entra-id", "suomifi"}


def _cents(value: float | Decimal) -> int:
    return int((Decimal(str(value)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


@pytest.mark.parametrize("rule", ["equal", "by-requests", "by-weight"])
def test_each_split_rule_adds_up_to_the_total(
    project_root: Path, rendered: Path, rule: str
) -> None:
    result = Cli(project_root)(
        "report", "--all-envs", "--from", str(rendered), "--split", rule, "-o", "json"
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    grand = 0
    for env in report["environments"]:
        prices = _all_yml(project_root, env["env"])["cost"]["prices"]
        cost = env["cost"]
        assert cost["split"] == rule
        assert cost["prices"] == pytest.approx(prices)
        cities = env["cities"]
        usages = []
        for city in cities:
            running = city["long_running"]
            usage = (
                Decimal(running["cpu_requests_millicores"])
                / 1000
                * Decimal(str(prices["vcpu_month"]))
                + Decimal(running["memory_requests_bytes"])
                / GIB
                * Decimal(str(prices["memory_gib_month"]))
                + Decimal(city["storage_bytes"]) / GIB * Decimal(str(prices["storage_gib_month"]))
            )
            assert _cents(city["cost"]["usage_month"]) == _cents(usage), city["city"]
            usages.append(usage)
        total = sum(usages, Decimal(0)) + Decimal(str(prices["platform_month"]))
        assert _cents(cost["total_month"]) == _cents(total)
        shares = [_cents(c["cost"]["share_month"]) for c in cities]
        assert sum(shares) == _cents(cost["total_month"]), env["env"]
        if rule == "equal":
            weights = [Decimal(1)] * len(cities)
        elif rule == "by-requests":
            weights = usages
        else:
            path = project_root / "inventories" / env["env"] / "group_vars"
            weights = [
                Decimal(str(yaml.safe_load((path / f"{c['city']}.yml").read_text())["cost_weight"]))
                for c in cities
            ]
        for share, weight in zip(shares, weights, strict=True):
            exact = Decimal(_cents(cost["total_month"])) * weight / sum(weights)
            assert abs(share - exact) < 1, (env["env"], rule)
        grand += _cents(cost["total_month"])
    assert _cents(report["totals"]["cost_month"]["EUR"]) == grand


def test_rule_and_prices_are_printed_with_the_result(project_root: Path, rendered: Path) -> None:
    result = Cli(project_root)("report", "--env", "prod", "--from", str(rendered))
    assert result.exit_code == 0, result.output
    assert "split by-requests: split in proportion to each city's requests" in result.stdout
    assert "22.00 EUR per vCPU-month" in result.stdout
    assert "platform 2400.00 EUR per month" in result.stdout
    table = result.stdout.splitlines()
    assert any(line.startswith("pori ") for line in table)
    assert any(line.startswith("TOTAL ") for line in table)


def test_render_in_process_gives_the_same_report(project_root: Path, rendered: Path) -> None:
    cli = Cli(project_root)
    fresh = cli("report", "--env", "dev", "-o", "json")
    stored = cli("--output", "json", "report", "--env", "dev", "--from", str(rendered))
    assert fresh.exit_code == 0, fresh.output
    assert stored.exit_code == 0, stored.output
    assert json.loads(fresh.stdout) == json.loads(stored.stdout)


def test_csv_and_markdown(project_root: Path, rendered: Path) -> None:
    cli = Cli(project_root)
    result = cli("report", "--all-envs", "--from", str(rendered), "-o", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    cities = [r for r in rows if r["city"] != "TOTAL"]
    assert len(cities) == 25
    totals = [r for r in rows if r["city"] == "TOTAL"]
    assert [r["env"] for r in totals] == [*ENVIRONMENTS, "all"]
    for env in ENVIRONMENTS:
        shares = sum(_cents(r["share_month"]) for r in cities if r["env"] == env)
        env_total = next(r for r in totals if r["env"] == env)
        assert shares == _cents(env_total["share_month"])
        assert {r["split_rule"] for r in cities if r["env"] == env} == {
            _all_yml(project_root, env)["cost"]["split"]
        }
    md = cli("report", "--env", "staging", "--from", str(rendered), "-o", "markdown")
    assert md.exit_code == 0, md.output
    assert md.stdout.startswith("## staging\n")
    assert "- split by-weight: split in proportion to each city's cost_weight" in md.stdout
    assert "| CITY | NAME | KEYCLOAK |" in md.stdout
    assert "| pori | Pori |" in md.stdout


def test_by_weight_needs_a_weight_in_every_city_file(project_copy: Path, rendered: Path) -> None:
    heinola = project_copy / "inventories" / "staging" / "group_vars" / "heinola.yml"
    heinola.write_text(re.sub(r"(?m)^cost_weight: .*\n", "", heinola.read_text()), "utf-8")
    result = Cli(project_copy)("report", "--env", "staging", "--from", str(rendered))
    assert result.exit_code == 2
    assert "inventories/staging/group_vars/heinola.yml: cost_weight: missing" in result.stderr
    assert "by-weight split needs cost_weight in every city file" in result.stderr
    assert result.stdout == ""
    other = Cli(project_copy)(
        "report", "--env", "staging", "--from", str(rendered), "--split", "equal"
    )
    assert other.exit_code == 0, other.output


def test_without_price_list_capacity_only(project_copy: Path, rendered: Path) -> None:
    all_yml = project_copy / "inventories" / "dev" / "group_vars" / "all.yml"
    text = all_yml.read_text("utf-8")
    all_yml.write_text(text[: text.index("# What `ociam report` prices")], "utf-8")
    result = Cli(project_copy)("report", "--env", "dev", "--from", str(rendered), "-o", "json")
    assert result.exit_code == 0, result.output
    env = json.loads(result.stdout)["environments"][0]
    assert env["cost"] is None
    assert all(c["cost"] is None for c in env["cities"])
    assert env["totals"]["keycloak_replicas"] == 9
    chart = Cli(project_copy)(
        "report", "--env", "dev", "--from", str(rendered), "--chart", str(project_copy / "c.svg")
    )
    assert chart.exit_code == 2
    assert "no environment has a price list" in chart.stderr


def test_missing_render_is_named(project_root: Path, tmp_path: Path) -> None:
    result = Cli(project_root)("report", "--env", "prod", "--from", str(tmp_path))
    assert result.exit_code == 2
    assert f"{tmp_path}/prod/hameenlinna/manifests.yaml: missing" in result.stderr
    assert "ociam render --env prod --all" in result.stderr


def _svg_texts(path: Path) -> list[str]:
    root = ET.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    return ["".join(node.itertext()) for node in root.iter("{http://www.w3.org/2000/svg}text")]


def test_svg_chart_names_every_city_and_its_share(
    project_root: Path, rendered: Path, tmp_path: Path, all_envs_report: dict[str, Any]
) -> None:
    chart = tmp_path / "share.svg"
    result = Cli(project_root)(
        "report", "--all-envs", "--from", str(rendered), "--chart", str(chart), "-o", "json"
    )
    assert result.exit_code == 0, result.output
    assert f"wrote {chart}" in result.stderr
    texts = _svg_texts(chart)
    totals: dict[str, Decimal] = {}
    names: dict[str, str] = {}
    for env in all_envs_report["environments"]:
        for city in env["cities"]:
            names[city["city"]] = city["name"]
            totals[city["city"]] = totals.get(city["city"], Decimal(0)) + Decimal(
                str(city["cost"]["share_month"])
            )
    assert len(names) == 9
    for slug, name in names.items():
        assert name in texts, f"{name} is not in the chart"
        amount = f"{totals[slug]:,.2f}".replace(",", " ") + " €"
        assert amount in texts, f"{slug}: {amount} is not in the chart"
    assert any("€ per month" in t for t in texts)
    assert any("split by-requests" in t and "22.00 EUR/vCPU" in t for t in texts)
    first = chart.read_bytes()
    again = Cli(project_root)(
        "report", "--all-envs", "--from", str(rendered), "--chart", str(chart), "-o", "json"
    )
    assert again.exit_code == 0
    assert chart.read_bytes() == first  # deterministic: no dates, fixed ids


def test_png_chart_is_a_valid_image_with_the_labels(
    project_root: Path, rendered: Path, tmp_path: Path
) -> None:
    from matplotlib import image

    from ociam.catalog import load_environment
    from ociam.report.build import Report, env_report
    from ociam.report.chart import figure
    from ociam.report.source import read_rendered

    chart = tmp_path / "share.png"
    result = Cli(project_root)(
        "report", "--env", "prod", "--from", str(rendered), "--chart", str(chart)
    )
    assert result.exit_code == 0, result.output
    data = chart.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 1000 and height >= 500
    pixels = image.imread(chart)
    assert pixels.shape[:2] == (height, width)
    assert pixels.min() < 0.2 and pixels.max() > 0.8  # dark text and bars on white
    # the figure that was saved carries every city's name as a drawn label
    catalog = load_environment(project_root, "prod")
    report = Report((env_report(catalog, read_rendered(rendered, list(catalog.cities.values()))),))
    fig = figure(report)
    labels = {t.get_text() for t in fig.axes[0].get_yticklabels()}
    assert labels == {
        "Hämeenlinna",
        "Pori",
        "Porvoo / Borgå",
        "Seinäjoki",
        "Kajaani",
        "Heinola",
        "Kankaanpää",
        "Paimio",
    }


def test_unknown_chart_type_is_refused_before_rendering(project_copy: Path) -> None:
    before = snapshot(project_copy)
    result = Cli(project_copy)("report", "--chart", str(project_copy / "share.pdf"))
    assert result.exit_code == 2
    assert "--chart:" in result.stderr and ".png or .svg" in result.stderr
    assert snapshot(project_copy) == before


def test_pod_resources_follow_the_kubernetes_rule() -> None:
    from ociam.report.capacity import pod_resources

    def c(name: str, cpu: str, memory: str, **extra: Any) -> dict[str, Any]:
        return {"name": name, "resources": {"requests": {"cpu": cpu, "memory": memory}}, **extra}

    defaults = {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {}}
    spec = {
        "initContainers": [
            c("sidecar", "100m", "64Mi", restartPolicy="Always"),
            c("build", "2", "512Mi"),
        ],
        "containers": [c("app", "500m", "1Gi"), c("helper", "250m", "128Mi")],
    }
    pod = pod_resources(spec, defaults, "test")
    # init phase: build (2 cores) + the sidecar started before it; run phase: 0.85
    assert pod.cpu_requests_m == 2100
    assert pod.memory_requests == (1024 + 128 + 64) * 2**20
    # limits from the LimitRange default, 1 core each: run phase 3, init phase 2
    assert pod.cpu_limits_m == 3000
    no_limit = pod_resources(
        {"containers": [c("app", "1", "1Gi")]}, {"limits": {}, "requests": {}}, "t"
    )
    assert no_limit.cpu_limits_m is None  # no limit anywhere: unbounded, not zero


def test_quantities() -> None:
    from ociam.report.quantity import QuantityError, bytes_of, millicores

    assert millicores("500m") == 500
    assert millicores("1.5") == 1500
    assert millicores(2) == 2000
    assert bytes_of("1250M") == 1_250_000_000
    assert bytes_of("384Mi") == 384 * 2**20
    assert bytes_of("1e3") == 1000
    with pytest.raises(QuantityError):
        bytes_of("12 GB")
