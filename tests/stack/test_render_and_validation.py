"""Render determinism, the render/preview/validate commands, and the validator's strictness."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ociam.engines.base import StackRef
from ociam.engines.offline import OfflineEngine
from ociam.render.output import diff_render, render_files
from ociam.render.validation import ManifestValidator
from tests.stack.stack_support import PROJECT_ROOT, edit_yaml, make_checkout
from tests.support import Cli

DEMO = Path("inventories/dev/group_vars/demo.yml")


def test_renders_are_byte_identical_across_engines_and_orders() -> None:
    first, second = OfflineEngine(PROJECT_ROOT), OfflineEngine(PROJECT_ROOT)
    a = [render_files(first.preview(StackRef("dev", c))) for c in ("demo", "pori", "demo")]
    b = [render_files(second.preview(StackRef("dev", c))) for c in ("pori", "demo")]
    assert a[0] == a[2] == b[1]
    assert a[1] == b[0]
    assert a[0] != a[1]


def test_render_command_writes_one_stream_per_city(tmp_path: Path, crd_dir: Path) -> None:
    cli = Cli(PROJECT_ROOT)
    out = tmp_path / "out"
    stale = out / "dev" / "demo" / "stale.yaml"
    stale.parent.mkdir(parents=True)
    stale.write_text("old", encoding="utf-8")
    result = cli("render", "--env", "dev", "--city", "demo", "--out", str(out), "-o", "json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["stacks"][0]["stack"] == "dev-demo"
    manifests = out / "dev" / "demo" / "manifests.yaml"
    text = manifests.read_text(encoding="utf-8")
    assert text.startswith("# Rendered by `ociam render`")
    assert text.count("\n---\n") == report["stacks"][0]["objects"]
    assert not stale.exists()
    again = tmp_path / "again"
    assert cli("render", "--city", "demo", "--out", str(again)).exit_code == 0
    assert (again / "dev" / "demo" / "manifests.yaml").read_bytes() == manifests.read_bytes()


def test_render_all_renders_every_city_of_the_environment(tmp_path: Path) -> None:
    result = Cli(PROJECT_ROOT)("render", "--env", "staging", "--all", "--out", str(tmp_path))
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "staging").iterdir()) == [
        "hameenlinna",
        "heinola",
        "kajaani",
        "kankaanpaa",
        "paimio",
        "pori",
        "porvoo",
        "seinajoki",
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "give --city CITY or --all"),
        (("--city", "demo", "--all"), "give --city CITY or --all"),
        (("--city", "atlantis"), "unknown city 'atlantis'"),
    ],
)
def test_render_and_preview_refuse_bad_input(args: tuple[str, ...], message: str) -> None:
    for command in ("render", "preview"):
        result = Cli(PROJECT_ROOT)(command, *args)
        assert result.exit_code == 2
        assert message in result.stderr


def test_preview_counts_kinds_and_names_objects() -> None:
    result = Cli(PROJECT_ROOT)("preview", "--engine", "offline", "--city", "demo")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("dev-demo (offline engine): ")
    lines = {line.split()[0]: line.split() for line in result.stdout.splitlines()[3:] if line}
    assert lines["StatefulSet"][1:] == ["1", "keycloak"]
    assert lines["HTTPRoute"][1] == "2"
    data = json.loads(Cli(PROJECT_ROOT)("preview", "--city", "demo", "-o", "json").stdout)
    stack = data["stacks"][0]
    assert stack["kinds"]["NetworkPolicy"] == sum(
        1 for o in stack["objects"] if o.startswith("NetworkPolicy ")
    )
    assert "ociam:keycloak:Keycloak" in stack["components"]


def test_preview_against_a_previous_render_shows_the_change(tmp_path: Path) -> None:
    root = make_checkout(tmp_path / "checkout")
    before = tmp_path / "before"
    cli = Cli(root)
    assert cli("render", "--city", "demo", "--out", str(before)).exit_code == 0
    same = cli("preview", "--city", "demo", "--against", str(before), "-o", "json")
    assert json.loads(same.stdout)["stacks"][0]["diff"]["changed"] == []
    edit_yaml(root / DEMO, lambda d: d.update(size_profile="ha"))
    result = cli("preview", "--city", "demo", "--against", str(before))
    assert result.exit_code == 0, result.output
    assert "StatefulSet iam-demo/keycloak" in result.stdout
    assert "-  replicas: 1" in result.stdout and "+  replicas: 3" in result.stdout


def test_diff_names_added_removed_and_changed_objects() -> None:
    one = "---\nkind: A\nmetadata: {name: a}\n---\nkind: B\nmetadata: {name: b}\nx: 1\n"
    two = "---\nkind: B\nmetadata: {name: b}\nx: 2\n---\nkind: C\nmetadata: {name: c}\n"
    diff = diff_render({"manifests.yaml": one}, {"manifests.yaml": two, "r.json": "{}"}, "s")
    assert diff.added == ("C c", "file r.json")
    assert diff.removed == ("A a",)
    assert diff.changed == ("B b",)
    assert "-x: 1" in diff.text and "+x: 2" in diff.text


def test_validate_rendered_passes_on_the_seed_catalog(crd_dir: Path) -> None:
    result = Cli(PROJECT_ROOT)("validate", "--rendered", "--env", "prod", "--crd-dir", str(crd_dir))
    assert result.exit_code == 0, result.output
    assert "prod: rendered manifests of 8 cities valid" in result.output


def test_validate_rendered_fails_on_an_unvalidatable_kind(tmp_path: Path, crd_dir: Path) -> None:
    root = make_checkout(tmp_path / "checkout")
    edit_yaml(
        root / "inventories/dev/group_vars/all.yml",
        lambda d: d["gateway"].update(admin_allowlist_policy=True),
    )
    # the same CRDs without envoy-gateway's: its SecurityPolicy cannot be validated
    without_envoy = tmp_path / "crds"
    without_envoy.mkdir()
    for path in crd_dir.glob("*.yaml"):
        if not path.name.startswith("gateway.envoyproxy.io_"):
            (without_envoy / path.name).write_bytes(path.read_bytes())
    result = Cli(root)("validate", "--rendered", "--city", "demo", "--crd-dir", str(without_envoy))
    assert result.exit_code == 2
    assert "unknown kind SecurityPolicy" in result.stderr


def test_validate_rendered_needs_the_crds(tmp_path: Path) -> None:
    result = Cli(PROJECT_ROOT)(
        "validate", "--rendered", "--city", "demo", "--crd-dir", str(tmp_path / "missing")
    )
    assert result.exit_code == 1
    assert "CRD directory" in result.stderr


def test_validator_is_strict_for_builtin_and_custom_kinds(crd_dir: Path) -> None:
    validator = ManifestValidator("1.34.0", crd_dir)
    meta = {"name": "x", "namespace": "y"}
    cases = [
        (
            {
                "apiVersion": "apps/v1",
                "kind": "StatefulSet",
                "metadata": meta,
                "spec": {"replica": 1, "selector": {}, "template": {}},
            },
            "'replica' was unexpected",
        ),
        (
            {
                "apiVersion": "postgresql.cnpg.io/v1",
                "kind": "Cluster",
                "metadata": meta,
                "spec": {"instances": 1, "storag": {}},
            },
            "'storag' was unexpected",
        ),
        (
            {
                "apiVersion": "postgresql.cnpg.io/v1",
                "kind": "Cluster",
                "metadata": {**meta, "label": {}},
                "spec": {"instances": 1},
            },
            "'label' was unexpected",
        ),
        (
            {
                "apiVersion": "gateway.networking.k8s.io/v1",
                "kind": "HTTPRoute",
                "metadata": meta,
                "spec": {"rules": [{"matches": [{"path": {"type": "Prefix"}}]}]},
            },
            "is not one of",
        ),
        ({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": meta}, "unknown kind"),
        ({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {}}, "every object needs a name"),
    ]
    for obj, message in cases:
        problems = validator.validate(obj)
        assert any(message in p.message for p in problems), (obj["kind"], problems)


def test_offline_commands_do_not_load_pulumi_for_help() -> None:
    import subprocess
    import sys

    code = "import sys, ociam.app; sys.exit('pulumi' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
