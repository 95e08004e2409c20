"""``--changed-since``: which stacks a change touches, unit and offline end to end in a git
checkout (with the real CLI: tests/cluster/test_real_engine.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ociam.changes import affected_stacks
from ociam.engines.base import StackRef
from tests.engines.conftest import PROJECT_ROOT, ociam
from tests.realsys.pulumi_env import git

CITIES = {"dev": ["demo", "pori"], "staging": ["pori"], "prod": ["pori", "porvoo"]}


def _affected(*paths: str, listener_env: str = "") -> list[str]:
    found = affected_stacks(
        paths,
        cities=lambda env: CITIES[env],
        platform_lists_cities=lambda env: env == listener_env,
        environments=list(CITIES),
    )
    return [s.label for s in found.stacks]


EVERY_CITY = ["dev-demo", "dev-pori", "prod-pori", "prod-porvoo", "staging-pori"]
EVERY_PLATFORM = ["platform/dev", "platform/prod", "platform/staging"]


@pytest.mark.parametrize(
    ("path", "stacks"),
    [
        ("inventories/dev/group_vars/pori.yml", ["dev-pori"]),
        ("inventories/prod/group_vars/all.yml", ["platform/prod", "prod-pori", "prod-porvoo"]),
        ("inventories/prod/hosts.yml", []),
        ("inventories/prod/host_vars/hub.yml", []),
        ("stacks/city/__main__.py", EVERY_CITY),
        ("cli/ociam/components/keycloak.py", EVERY_CITY),
        ("cli/ociam/realms/employees.py", EVERY_CITY),
        ("cli/ociam/profiles.py", EVERY_CITY),
        ("stacks/platform/platform.yml", EVERY_PLATFORM),
        ("cli/ociam/components/platform.py", EVERY_PLATFORM),
        ("cli/ociam/components/platform_config.py", EVERY_PLATFORM),
        ("cli/ociam/catalog/city.py", sorted(EVERY_CITY + EVERY_PLATFORM)),
        ("cli/ociam/engines/offline.py", sorted(EVERY_CITY + EVERY_PLATFORM)),
        ("pyproject.toml", sorted(EVERY_CITY + EVERY_PLATFORM)),
        ("stacks/city/Pulumi.dev-demo.yaml", ["dev-demo"]),
        ("stacks/city/Pulumi.prod-porvoo.yaml", ["prod-porvoo"]),
        ("stacks/city/Pulumi.prod-lahti.yaml", []),
        ("stacks/platform/Pulumi.staging.yaml", ["platform/staging"]),
        ("stacks/city/Pulumi.yaml", EVERY_CITY),
        ("README.md", []),
        ("docs/engines.md", []),
        ("roles/hardening/tasks/main.yml", []),
        ("cli/ociam/commands/preview.py", []),
        (".github/workflows/preview.yml", []),
    ],
)
def test_each_path_maps_to_its_stacks(path: str, stacks: list[str]) -> None:
    assert sorted(_affected(path)) == sorted(stacks)


def test_a_city_file_touches_the_platform_when_its_gateway_lists_cities() -> None:
    assert _affected("inventories/prod/group_vars/pori.yml", listener_env="prod") == [
        "platform/prod",
        "prod-pori",
    ]


def test_a_deleted_city_file_is_reported_not_previewed() -> None:
    found = affected_stacks(
        ["inventories/dev/group_vars/lahti.yml"],
        cities=lambda env: CITIES[env],
        platform_lists_cities=lambda env: False,
        environments=list(CITIES),
    )
    assert found.stacks == []
    assert found.removed == [StackRef("dev", "lahti")]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A git checkout of the catalog and the programs with one commit."""
    root = tmp_path / "checkout"
    root.mkdir()
    for folder in ("inventories", "stacks"):
        shutil.copytree(PROJECT_ROOT / folder, root / folder)
    shutil.copy2(PROJECT_ROOT / "pyproject.toml", root / "pyproject.toml")
    (root / "docs").mkdir()
    (root / "docs" / "notes.md").write_text("notes\n", encoding="utf-8")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "seed")
    git(root, "checkout", "-q", "-b", "feature")
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_changed_environment_defaults_preview_the_environment_and_its_platform(
    checkout: Path,
) -> None:
    _edit(checkout / "inventories/dev/group_vars/all.yml", 'retention: "7d"', 'retention: "8d"')
    run = ociam(
        "preview", "--changed-since", "main", "--engine", "offline", "--no-names", "-o", "json",
        root=checkout,
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    stacks = [s["stack"] for s in json.loads(run.stdout)["stacks"]]
    from ociam.catalog import load_environment

    cities = sorted(f"dev-{c}" for c in load_environment(checkout, "dev").cities)
    assert stacks == ["platform/dev", *cities]


def test_changed_since_with_env_limits_to_that_environment(checkout: Path) -> None:
    (checkout / "stacks" / "city" / "README.md").write_text("program notes\n", encoding="utf-8")
    run = ociam(
        "preview", "--changed-since", "main", "--env", "prod", "--engine", "offline", "-o", "json",
        root=checkout,
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    stacks = {s["stack"] for s in json.loads(run.stdout)["stacks"]}
    assert stacks and all(s.startswith("prod-") for s in stacks)


def test_nothing_changed_previews_nothing(checkout: Path, tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    run = ociam(
        "preview", "--changed-since", "main", "--engine", "offline", "--summary-md", str(summary),
        root=checkout,
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    assert "0 file(s), 0 stack(s)" in run.stderr
    assert "No stack is affected." in summary.read_text(encoding="utf-8")


def test_an_unknown_ref_is_bad_input(checkout: Path) -> None:
    run = ociam("preview", "--changed-since", "no-such-ref", "--engine", "offline", root=checkout)
    assert run.exit_code == 2
    assert "no-such-ref" in run.stderr


def test_changed_since_excludes_explicit_selection(checkout: Path) -> None:
    run = ociam("preview", "--changed-since", "main", "--city", "demo", root=checkout)
    assert run.exit_code == 2
    assert "--changed-since selects the stacks itself" in run.stderr
