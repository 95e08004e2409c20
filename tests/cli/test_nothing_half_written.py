"""Commands that write, killed at random moments: the old files or the new ones, never a mix.

`ociam render --out` and `ociam new-city` run as processes and get SIGKILL after a
random delay, many times; after each kill every city render directory (and the
environment directory) is exactly the old one or exactly the new one. Two
`new-city` at once: one succeeds, the other refuses, hosts.yml stays valid.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.support import snapshot

OCIAM = str(Path(sys.executable).parent / "ociam")
ROOT = Path(__file__).resolve().parents[2]
KILLS = 12
NEW_CITY = [
    "new-city",
    "lahti",
    "--env",
    "dev",
    "--name",
    "Lahti",
    "--domain",
    "lahti.fi",
    "--code",
    "398",
    "--admin-cidr",
    "198.51.100.240/29",
]


def _checkout(base: Path) -> Path:
    root = base / "checkout"
    for part in ("inventories", "stacks", "cli"):
        shutil.copytree(ROOT / part, root / part, symlinks=True)
    shutil.copy2(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [OCIAM, *args], cwd=root, capture_output=True, text=True, check=False, timeout=600
    )


def _killed(root: Path, args: list[str], delay: float) -> None:
    process = subprocess.Popen(
        [OCIAM, *args], cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    time.sleep(delay)
    process.send_signal(signal.SIGKILL)
    process.wait()


def _trees(out: Path) -> dict[str, dict[str, bytes]]:
    """Every city render directory below ``out``, with its files (staging excluded)."""
    found = {}
    for city in sorted(out.glob("*/*")):
        if city.is_dir() and not city.name.startswith("."):
            found[str(city.relative_to(out))] = snapshot(city)
    return found


def _restore(directory: Path, files: dict[str, bytes]) -> None:
    for path in [p for p in directory.rglob("*") if p.is_file()]:
        if str(path.relative_to(directory)) not in files:
            path.unlink()
    for name, content in files.items():
        (directory / name).write_bytes(content)


def test_a_killed_render_leaves_each_city_old_or_new(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    out = tmp_path / "rendered"
    assert _run(root, "render", "--env", "dev", "--all", "--out", str(out)).returncode == 0
    old = _trees(out)
    all_yml = root / "inventories/dev/group_vars/all.yml"
    all_yml.write_text(
        all_yml.read_text(encoding="utf-8").replace(
            "iam-dev.hameenlinna.fi", "iam-dev2.example.fi"
        ),
        encoding="utf-8",
    )
    reference = tmp_path / "reference"
    assert _run(root, "render", "--env", "dev", "--all", "--out", str(reference)).returncode == 0
    new = _trees(reference)
    assert old.keys() == new.keys() and all(old[c] != new[c] for c in old)
    chance = random.Random(4711)
    mixes = []
    for _ in range(KILLS):
        _killed(
            root, ["render", "--env", "dev", "--all", "--out", str(out)], chance.uniform(0.5, 4)
        )
        for city, files in _trees(out).items():
            if files not in (old[city], new[city]):
                mixes.append(city)
    assert not mixes, f"half-written renders: {mixes}"
    # a complete run afterwards leaves no staging directory behind
    assert _run(root, "render", "--env", "dev", "--all", "--out", str(out)).returncode == 0
    assert _trees(out) == new
    assert not list(out.rglob(".*ociam-*")), "stale staging left"


def test_a_killed_new_city_leaves_the_environment_old_or_new(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    environment = root / "inventories" / "dev"
    old = snapshot(environment)
    reference = _checkout(tmp_path / "reference")
    assert _run(reference, *NEW_CITY).returncode == 0
    new = snapshot(reference / "inventories" / "dev")
    assert old != new
    chance = random.Random(1234)
    outcomes = []
    for _ in range(KILLS):
        _killed(root, NEW_CITY, chance.uniform(0.3, 3))
        now = snapshot(environment)
        assert now in (old, new), "half-written environment"
        outcomes.append("new" if now == new else "old")
        if now == new:  # start over from the old state
            _restore(environment, old)
            assert snapshot(environment) == old
    assert "old" in outcomes, outcomes


def test_two_new_city_at_once_one_wins_and_hosts_stays_valid(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    second = [*NEW_CITY]
    second[1], second[9] = "lappeenranta", "405"
    processes = [
        subprocess.Popen(
            [OCIAM, *args], cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for args in (NEW_CITY, second)
    ]
    results = [(p.wait(timeout=600), p.stderr.read() if p.stderr else "") for p in processes]
    codes = sorted(code for code, _ in results)
    hosts = yaml.safe_load((root / "inventories/dev/hosts.yml").read_text(encoding="utf-8"))
    cities = hosts["all"]["children"]["cities"]["children"]
    if codes == [0, 1]:
        (refusal,) = [err for code, err in results if code == 1]
        assert "another ociam process is changing the catalog" in refusal
        assert ("lahti" in cities) != ("lappeenranta" in cities)
    else:
        # one finished before the other started: both succeed, one after the other
        assert codes == [0, 0], results
        assert {"lahti", "lappeenranta"} <= set(cities)
    assert _run(root, "validate", "--env", "dev").returncode == 0


def test_new_city_is_refused_while_another_holds_the_lock(tmp_path: Path) -> None:
    from ociam.fileio import exclusive

    root = _checkout(tmp_path)
    before = snapshot(root / "inventories")
    with exclusive(root / "inventories", "the catalog"):
        result = _run(root, *NEW_CITY)
    assert result.returncode == 1
    assert "another ociam process is changing the catalog (inventories/)" in result.stderr
    assert snapshot(root / "inventories") == before
