"""``ociam codeowners``: .github/CODEOWNERS follows the catalog's owners, and is kept current."""

from __future__ import annotations

import fnmatch
from pathlib import Path

import yaml

from ociam.catalog import ENVIRONMENTS
from tests.support import Cli, snapshot


def _owners_of(codeowners: str, path: str) -> list[str]:
    """Owners GitHub would require for ``path``: the last matching rule wins.

    Enough of the CODEOWNERS pattern syntax for the generated file: ``*`` alone,
    and anchored paths whose ``*`` does not cross a slash."""
    owners: list[str] = []
    for line in codeowners.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        pattern, *handles = line.split()
        if pattern == "*":
            owners = handles
            continue
        assert pattern.startswith("/"), pattern
        anchored = pattern[1:]
        if fnmatch.fnmatchcase(path, anchored) and path.count("/") == anchored.count("/"):
            owners = handles
    return owners


def test_committed_codeowners_is_up_to_date(cli: Cli, project_root: Path) -> None:
    committed = (project_root / ".github" / "CODEOWNERS").read_text(encoding="utf-8")
    result = cli("codeowners", "--stdout")
    assert result.exit_code == 0, result.output
    assert result.stdout == committed, (
        ".github/CODEOWNERS is out of date with the catalog's owners: run `ociam codeowners` "
        "and commit the file"
    )
    assert cli("codeowners", "--check").exit_code == 0


def test_every_city_file_needs_its_own_owners(project_root: Path) -> None:
    """Read the owners from the YAML files directly, not through the code under test."""
    text = (project_root / ".github" / "CODEOWNERS").read_text(encoding="utf-8")
    checked = 0
    for env in ENVIRONMENTS:
        group_vars = project_root / "inventories" / env / "group_vars"
        platform = yaml.safe_load((group_vars / "all.yml").read_text(encoding="utf-8"))["owners"]
        assert platform, f"{env}/all.yml names no platform team"
        for shared in (f"inventories/{env}/group_vars/all.yml", f"inventories/{env}/hosts.yml"):
            assert _owners_of(text, shared) == platform, shared
        for city_file in sorted(group_vars.glob("*.yml")):
            if city_file.name == "all.yml":
                continue
            data = yaml.safe_load(city_file.read_text(encoding="utf-8"))
            expected = data.get("owners") or platform
            relative = city_file.relative_to(project_root).as_posix()
            assert _owners_of(text, relative) == expected, relative
            checked += 1
        # a city file that is not in the catalog yet (a new city's pull request)
        assert _owners_of(text, f"inventories/{env}/group_vars/newcity.yml") == platform
    assert checked >= 20
    for program in ("stacks/city/__main__.py", "cli/ociam/app.py", "roles/hardening/x.yml"):
        assert _owners_of(text, program) == ["@ociam-consortium/platform"], program
    # a city's approval is really needed: its line names nobody else
    assert _owners_of(text, "inventories/prod/group_vars/pori.yml") == [
        "@ociam-consortium/pori-iam"
    ]


def test_check_fails_on_a_stale_file_and_write_fixes_it(project_copy: Path) -> None:
    cli = Cli(project_copy)
    assert cli("codeowners").exit_code == 0
    pori = project_copy / "inventories" / "prod" / "group_vars" / "pori.yml"
    pori.write_text(
        pori.read_text(encoding="utf-8").replace(
            '  - "@ociam-consortium/pori-iam"\n',
            '  - "@ociam-consortium/pori-iam"\n  - "@pori-it-admin"\n',
        ),
        encoding="utf-8",
    )
    before = snapshot(project_copy)
    stale = cli("codeowners", "--check")
    assert stale.exit_code == 1
    assert "out of date: run `ociam codeowners`" in stale.stderr
    assert snapshot(project_copy) == before  # --check writes nothing
    written = cli("codeowners")
    assert written.exit_code == 0, written.output
    assert "wrote .github/CODEOWNERS" in written.stdout
    text = (project_copy / ".github" / "CODEOWNERS").read_text(encoding="utf-8")
    assert _owners_of(text, "inventories/prod/group_vars/pori.yml") == [
        "@ociam-consortium/pori-iam",
        "@pori-it-admin",
    ]
    assert cli("codeowners", "--check").exit_code == 0


def test_city_without_owners_falls_back_to_the_platform_team(project_copy: Path) -> None:
    cli = Cli(project_copy)
    seinajoki = project_copy / "inventories" / "staging" / "group_vars" / "seinajoki.yml"
    text = seinajoki.read_text(encoding="utf-8")
    start = text.index("owners:\n")
    end = text.index("\n", text.index("  - ", start)) + 1
    seinajoki.write_text(text[:start] + text[end:], encoding="utf-8")
    result = cli("codeowners", "--stdout")
    assert result.exit_code == 0, result.output
    owners = _owners_of(result.stdout, "inventories/staging/group_vars/seinajoki.yml")
    assert owners == ["@ociam-consortium/platform"]


def test_invalid_owner_handle_is_refused_naming_file_and_field(project_copy: Path) -> None:
    cli = Cli(project_copy)
    kajaani = project_copy / "inventories" / "dev" / "group_vars" / "kajaani.yml"
    kajaani.write_text(
        kajaani.read_text(encoding="utf-8").replace(
            '"@ociam-consortium/kajaani-iam"', '"kajaani admins"'
        ),
        encoding="utf-8",
    )
    before = snapshot(project_copy)
    result = cli("codeowners")
    assert result.exit_code == 2
    assert "kajaani.yml" in result.stderr
    assert "owners[0]" in result.stderr or "owners.0" in result.stderr
    assert snapshot(project_copy) == before


def test_duplicate_owner_is_refused(project_copy: Path) -> None:
    cli = Cli(project_copy)
    all_yml = project_copy / "inventories" / "prod" / "group_vars" / "all.yml"
    all_yml.write_text(
        all_yml.read_text(encoding="utf-8").replace(
            '  - "@ociam-consortium/platform"\n',
            '  - "@ociam-consortium/platform"\n  - "@OCIAM-consortium/Platform"\n',
        ),
        encoding="utf-8",
    )
    result = cli("codeowners", "--check")
    assert result.exit_code == 2
    assert "all.yml" in result.stderr
    assert "twice" in result.stderr
