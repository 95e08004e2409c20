"""Commands that write, killed at every write: the old files or the new ones, never a mix.

`ociam render --out` (a second render over an existing one, of a changed catalog)
and `ociam new-city` run in a child process under tests/cli/kill_at_write.py, which
counts the calls that change files below the output (or inventories/) and SIGKILLs
the process right after the N-th. A first run counts the calls; then the command is
killed once at each N (when there are more than MOST_KILLS: at each call that
changes the directory structure and at a spread of the content writes),
starting from the old files every time. After each kill every city render directory
(every environment directory) is, by content hash, exactly the old one or exactly
the new one, none is missing, and the only other entries are the hidden staging
siblings ``.<name>.ociam-<kind>-<random>`` of ociam.fileio, which no reader looks at
and the next complete run removes (checked too). Two `new-city` at once: one
succeeds, the other refuses, hosts.yml stays valid.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from tests.support import snapshot

OCIAM = str(Path(sys.executable).parent / "ociam")
ROOT = Path(__file__).resolve().parents[2]
KILL_AT_WRITE = Path(__file__).with_name("kill_at_write.py")
MOST_KILLS = 30
#: ociam.fileio's staging names: a hidden sibling of the directory or file it replaces
STAGING = re.compile(r"\.(?P<name>.+)\.ociam-[a-z]+-[^/]+")
CITY = "paimio"
#: kill_at_write calls that write a file's content, not the directory structure
CONTENT_CALLS = frozenset({"open", "write", "sendfile", "truncate", "ftruncate"})
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


#: relative path → sha256 of the content ("dir" for a directory, "-> target" for a link)
Tree = dict[str, str]


def _tree(top: Path) -> Tree:
    """Everything below ``top``, hidden entries included."""
    found: Tree = {}
    for path in sorted(top.rglob("*")):
        relative = path.relative_to(top).as_posix()
        if path.is_symlink():
            found[relative] = f"-> {path.readlink()}"
        elif path.is_dir():
            found[relative] = "dir"
        else:
            found[relative] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@dataclass
class State:
    """A tree below ``top`` read as its units (the directories a command replaces whole)."""

    units: dict[str, Tree] = field(default_factory=dict)
    staging: set[str] = field(default_factory=set)
    strays: set[str] = field(default_factory=set)


def _state(top: Path, units: set[str]) -> State:
    state = State()
    ancestors = {str(Path(unit).parent) for unit in units} - {"."}
    for relative, content in _tree(top).items():
        unit = next((u for u in units if relative == u or relative.startswith(u + "/")), None)
        parts = relative.split("/")
        # the first hidden staging name on the path, and the unit it is the sibling of
        staged = next(
            ((i, m["name"]) for i, part in enumerate(parts) if (m := STAGING.fullmatch(part))),
            None,
        )
        if unit is not None:
            state.units.setdefault(unit, {})[relative[len(unit) + 1 :] or "."] = content
        elif staged is not None and "/".join([*parts[: staged[0]], staged[1]]) in units:
            state.staging.add("/".join(parts[: staged[0] + 1]))
        elif relative not in ancestors:
            state.strays.add(relative)
    return state


def _mix(files: Tree, old: Tree, new: Tree) -> str:
    """Which version each file of a half-written unit is (the unchanged ones left out)."""

    def version(name: str) -> str:
        found = files.get(name)
        if found is None:
            return "missing"
        if found == old.get(name) == new.get(name):
            return "unchanged"
        if found == old.get(name):
            return "old"
        if found == new.get(name):
            return "new"
        return "empty" if found == hashlib.sha256(b"").hexdigest() else "neither"

    names = sorted((files.keys() | old.keys() | new.keys()) - {"."})
    versions = [(name, version(name)) for name in names]
    return ", ".join(f"{name} {which}" for name, which in versions if which != "unchanged")


def _put_back(top: Path, saved: Path) -> None:
    shutil.rmtree(top)
    shutil.copytree(saved, top, symlinks=True)


def _under_kill_at_write(
    root: Path, top: Path, at: int, log: Path, args: list[str]
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ociam ``args`` under kill_at_write; its result and the counted calls."""
    log.unlink(missing_ok=True)
    result = subprocess.run(
        [sys.executable, str(KILL_AT_WRITE), str(top), str(at), str(log), *args],
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    calls = log.read_text(encoding="utf-8").splitlines() if log.exists() else []
    return result, calls


def _picks(calls: list[str]) -> list[int]:
    """The writes to kill at: all of them, or, when there are more than MOST_KILLS, every
    one that changes the directory structure (mkdir, rename, unlink, ...: a window of one
    call can matter) and the file content writes (open, sendfile, ...) evenly spread."""
    if len(calls) <= MOST_KILLS:
        return list(range(1, len(calls) + 1))
    content = [n for n, call in enumerate(calls, 1) if call.split()[1] in CONTENT_CALLS]
    picks = {n for n in range(1, len(calls) + 1) if n not in content}
    room = max(MOST_KILLS - len(picks), 2)
    if len(content) > room:
        content = [content[round(i * (len(content) - 1) / (room - 1))] for i in range(room)]
    return sorted(picks | set(content))


def _kill_at_each_write(
    root: Path, top: Path, args: list[str], units: set[str], scratch: Path
) -> tuple[State, State, list[str]]:
    """Kill ``ociam args`` after each of its writes below ``top``, from the same old files
    every time, and check every state it leaves; the old and the new state and the
    counted calls of a complete run."""
    scratch.mkdir()
    saved = scratch / "old"
    shutil.copytree(top, saved, symlinks=True)
    old = _state(top, units)
    assert old.units.keys() == units and not old.staging and not old.strays, old
    complete, calls = _under_kill_at_write(root, top, 0, scratch / "count.log", args)
    assert complete.returncode == 0, complete.stderr
    new = _state(top, units)
    assert new.units.keys() == units and not new.staging and not new.strays, new
    assert new.units != old.units, "the command changed nothing: nothing to kill it in"
    assert calls, "kill_at_write counted no write: it would test nothing"
    problems: list[str] = []
    outcomes: set[str] = set()
    cleaned = False
    for at in _picks(calls):
        _put_back(top, saved)
        killed, done = _under_kill_at_write(root, top, at, scratch / f"kill-{at}.log", args)
        assert killed.returncode == -signal.SIGKILL, (
            f"not killed at write {at} of {len(calls)} (exit {killed.returncode}): the run "
            f"wrote differently from the counting run\n{killed.stderr}"
        )
        where = "killed after write " + done[-1].replace(f"{top}/", "")
        now = _state(top, units)
        if now.units.keys() != units:
            problems.append(f"{where}: missing {sorted(units - now.units.keys())}")
        for unit, files in sorted(now.units.items()):
            if files == old.units[unit]:
                outcomes |= {"old"} if files != new.units[unit] else set()
            elif files == new.units[unit]:
                outcomes.add("new")
            else:
                mix = _mix(files, old.units[unit], new.units[unit])
                problems.append(f"{where}: {unit} is neither the old nor the new one: {mix}")
        if now.strays:
            problems.append(f"{where}: left {sorted(now.strays)} (not ociam staging)")
        if now.staging and not cleaned:
            # the next complete run removes what the killed one left
            assert _run(root, *args).returncode == 0
            after = _state(top, units)
            assert after == new, f"{where}, then a complete run: {after}"
            cleaned = True
    assert not problems, "\n".join(problems)
    # some kills landed before the new files were in place, some after (in a changed unit)
    assert outcomes == {"old", "new"}, outcomes
    _put_back(top, saved)
    return old, new, calls


def test_a_render_killed_at_any_write_leaves_the_city_old_or_new(tmp_path: Path) -> None:
    root = _checkout(tmp_path)
    out = tmp_path / "rendered"
    render = ["render", "--env", "dev", "--city", CITY, "--out", str(out)]
    assert _run(root, *render).returncode == 0
    city_file = root / "inventories" / "dev" / "group_vars" / f"{CITY}.yml"
    text = city_file.read_text(encoding="utf-8")
    assert "fi: Paimio\n" in text
    city_file.write_text(text.replace("fi: Paimio\n", "fi: Paimion kaupunki\n"), encoding="utf-8")
    old, new, calls = _kill_at_each_write(root, out, render, {f"dev/{CITY}"}, tmp_path / "kills")
    (before,), (after,) = old.units.values(), new.units.values()
    # every file of the render changed, so a mix of old and new files would show
    assert before.keys() == after.keys()
    assert all(before[name] != after[name] for name in before if before[name] != "dir")
    assert any(" libc.renameat2 " in call or " rename" in call for call in calls), calls


def test_a_new_city_killed_at_any_write_leaves_the_environment_old_or_new(
    tmp_path: Path,
) -> None:
    root = _checkout(tmp_path)
    inventories = root / "inventories"
    environments = {p.name for p in inventories.iterdir() if p.is_dir()}
    assert "dev" in environments
    old, new, _ = _kill_at_each_write(root, inventories, NEW_CITY, environments, tmp_path / "kills")
    changed = {
        name
        for name in old.units["dev"].keys() | new.units["dev"].keys()
        if old.units["dev"].get(name) != new.units["dev"].get(name)
    }
    assert changed == {"hosts.yml", "group_vars/lahti.yml"}, changed
    assert all(old.units[env] == new.units[env] for env in environments - {"dev"})
    # the checkout is back at the old catalog: new-city still succeeds from it
    assert _run(root, *NEW_CITY).returncode == 0
    assert _state(inventories, environments) == new


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
