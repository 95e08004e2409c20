"""Render every catalog city plus N synthetic cities in one process; print timings.

    .venv/bin/python bench/render.py [--synthetic N] [--env dev]

Synthetic cities are copies of the demo city (new slug, hostnames and
addresses) in a throwaway checkout, so the catalog stays untouched. Prints the
first render (imports and schema warm-up), the per-city median after it, the
medians of the first and second half (linearity: they should be alike) and the
peak traced memory. Not a test: no assertion on time.
"""

from __future__ import annotations

import argparse
import resource
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "cli"))

from ociam.catalog import load_environment  # noqa: E402
from ociam.engines.offline import OfflineEngine  # noqa: E402
from ociam.render.service import render_city  # noqa: E402


def synthesize(root: Path, env: str, count: int) -> None:
    """Add ``count`` (at most 130) copies of the demo city to ``env`` of the checkout."""
    group_vars = root / "inventories" / env / "group_vars"
    demo = yaml.safe_load((group_vars / "demo.yml").read_text(encoding="utf-8"))
    hosts_file = root / "inventories" / env / "hosts.yml"
    hosts = yaml.safe_load(hosts_file.read_text(encoding="utf-8"))
    cities = hosts["all"]["children"]["cities"]["children"]
    tunnel = str(demo["connector"]["tunnel_address"]).rsplit(".", 1)[0]
    service = str(demo["connector"]["hub_service_address"]).rsplit(".", 1)[0]
    used = {
        yaml.safe_load(path.read_text(encoding="utf-8"))["city"]["municipality_code"]
        for path in group_vars.glob("*.yml")
        if path.name != "all.yml"
    }
    codes = (code for code in (f"{n:03d}" for n in range(1000)) if code not in used)
    for index, code in zip(range(count), codes, strict=False):
        slug, host = f"synth{index:03d}", 120 + index
        city = yaml.safe_load(yaml.safe_dump(demo))
        city["city"].update(slug=slug, municipality_code=code, domain=f"{slug}.example")
        city["ldap"]["tls_server_name"] = f"ad.{slug}.example"
        city["connector"].update(
            tunnel_address=f"{tunnel}.{host}", hub_service_address=f"{service}.{host}"
        )
        text = yaml.safe_dump(city, sort_keys=False).replace("demo.example", f"{slug}.example")
        (group_vars / f"{slug}.yml").write_text(text, encoding="utf-8")
        cities[slug] = {"hosts": {f"iam-connector.{slug}.example": None}}
    hosts_file.write_text(yaml.safe_dump(hosts, sort_keys=False), encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--synthetic", type=int, default=40, help="synthetic cities (max 130)")
    parser.add_argument("--env", default="dev")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "checkout"
        root.mkdir()
        for item in ("inventories", "stacks"):
            shutil.copytree(ROOT / item, root / item)
        shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
        if (ROOT.parent / "shared").is_dir():
            (Path(tmp) / "shared").symlink_to(ROOT.parent / "shared")
        args.synthetic = min(args.synthetic, 130)
        synthesize(root, args.env, args.synthetic)
        cities = list(load_environment(root, args.env).cities.values())
        engine = OfflineEngine(root)
        times, cpu, rss = [], [], []
        for city in cities:
            start, start_cpu = time.perf_counter(), time.process_time()
            render_city(engine, city)
            times.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
            rss.append(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    first, rest, rest_cpu = times[0], times[1:], cpu[1:]
    half = len(rest) // 2
    print(
        f"cities rendered:        {len(times)} "
        f"({args.env}, {len(times) - args.synthetic} from the catalog)"
    )
    print(f"first city:             {first:.0f} ms (imports, warm-up)")
    print(
        f"per city after first:   median {statistics.median(rest):.1f} ms, "
        f"p90 {sorted(rest)[int(len(rest) * 0.9)]:.1f} ms"
    )
    print(f"CPU per city after 1st: median {statistics.median(rest_cpu):.1f} ms (process CPU time)")
    print(
        f"linearity:              first half median {statistics.median(rest[:half]):.1f} ms, "
        f"second half {statistics.median(rest[half:]):.1f} ms"
    )
    print(
        f"peak RSS:               {rss[0]:.0f} MiB after the first city, "
        f"{rss[-1]:.0f} MiB at the end"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
