"""Realm changes readable in review: field by field, between two offline renders.

Unit tests of the comparison, then ``ociam preview --changed-since`` on a real git
history (offline engine; tests/cluster runs the same with the real Pulumi CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ociam.realm_diff import REDACTED, diff_realms
from tests.engines.conftest import ociam
from tests.realsys.pulumi_env import copy_checkout, git

BEFORE: dict[str, Any] = {
    "realm": "employees",
    "bruteForceProtected": True,
    "failureFactor": 5,
    "clients": [
        {"clientId": "intranet", "redirectUris": ["https://a/cb", "https://b/cb"], "secret": "x"},
        {"clientId": "wiki", "redirectUris": ["https://w/cb"]},
    ],
    "authenticationFlows": [
        {
            "alias": "browser",
            "authenticationExecutions": [
                {"authenticator": "auth-cookie", "requirement": "ALTERNATIVE"},
                {"authenticator": "auth-otp-form", "requirement": "REQUIRED"},
            ],
        }
    ],
    "components": {"org.keycloak.storage.UserStorageProvider": [
        {"name": "active-directory", "config": {"bindCredential": ["old"], "pagination": ["true"]}}
    ]},
}  # fmt: skip


def _after(**changes: Any) -> dict[str, Any]:
    after: dict[str, Any] = json.loads(json.dumps(BEFORE))
    after.update(changes)
    return after


def _lines(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    return [c.line() for c in diff_realms({"employees": before}, {"employees": after})]


def test_identical_realms_have_no_changes() -> None:
    assert _lines(BEFORE, _after()) == []


def test_list_items_are_named_by_what_identifies_them() -> None:
    after = _after()
    after["clients"][0]["redirectUris"] = ["https://a/cb"]
    after["clients"].append({"clientId": "library", "redirectUris": []})
    after["authenticationFlows"][0]["authenticationExecutions"][1]["requirement"] = "CONDITIONAL"
    assert _lines(BEFORE, after) == [
        "employees: authenticationFlows[browser].authenticationExecutions[auth-otp-form]"
        '.requirement: "REQUIRED" → "CONDITIONAL"',
        "employees: clients[library]: added",
        'employees: clients[intranet].redirectUris: removed "https://b/cb"',
    ]


def test_scalars_and_removed_items() -> None:
    after = _after(failureFactor=3)
    del after["clients"][1]
    del after["bruteForceProtected"]
    assert _lines(BEFORE, after) == [
        "employees: bruteForceProtected: removed true",
        "employees: clients[wiki]: removed",
        "employees: failureFactor: 5 → 3",
    ]


def test_secret_looking_values_are_never_shown() -> None:
    after = _after()
    after["clients"][0]["secret"] = "new-client-secret"
    after["components"]["org.keycloak.storage.UserStorageProvider"][0]["config"] = {
        "bindCredential": ["new-bind-password"],
        "pagination": ["false"],
    }
    lines = _lines(BEFORE, after)
    assert f"employees: clients[intranet].secret: {REDACTED} → {REDACTED}" in lines
    assert any(line.endswith('pagination: "true" → "false"') for line in lines)
    text = "\n".join(lines)
    assert "new-client-secret" not in text
    assert "new-bind-password" not in text
    assert "old" not in text


def test_a_reordered_list_of_values_is_a_change() -> None:
    after = _after()
    after["clients"][0]["redirectUris"] = ["https://b/cb", "https://a/cb"]
    assert _lines(BEFORE, after) == [
        'employees: clients[intranet].redirectUris: order ["https://a/cb", "https://b/cb"] '
        '→ ["https://b/cb", "https://a/cb"]'
    ]


def test_realms_added_and_removed() -> None:
    changes = diff_realms({"employees": BEFORE}, {"residents": BEFORE})
    assert [c.line() for c in changes] == ["employees: removed", "residents: added"]


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_changed_since_shows_the_realm_settings_a_change_alters(tmp_path: Path) -> None:
    checkout = copy_checkout(tmp_path / "checkout")
    git(checkout, "checkout", "-q", "-b", "feature")
    # a realm change, committed: a redirect URI removed from the demo intranet client
    _edit(
        checkout / "inventories/dev/group_vars/demo.yml",
        '      - "https://dev-intra.demo.example/oauth2/callback"\n',
        '      - "https://dev-intra.demo.example/oauth2/callback"\n'
        '      - "https://dev-intra.demo.example/oauth2/callback2"\n',
    )
    git(checkout, "commit", "-q", "-am", "demo: a second intranet callback")
    # an unrelated change, uncommitted: a city setting no realm reads
    _edit(
        checkout / "inventories/dev/group_vars/pori.yml",
        "  - 198.51.100.16/28 ",
        "  - 198.51.100.32/28 ",
    )

    summary = tmp_path / "summary.md"
    run = ociam(
        "preview", "--changed-since", "main", "--engine", "offline", "--env", "dev",
        "--summary-md", str(summary), "--output", "json", root=checkout,
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    stacks = {s["stack"]: s for s in json.loads(run.stdout)["stacks"]}
    assert sorted(stacks) == ["dev-demo", "dev-pori"]
    expected = (
        "employees: clients[intranet].redirectUris: added "
        '"https://dev-intra.demo.example/oauth2/callback2"'
    )
    assert stacks["dev-demo"]["realm_changes"] == [expected]
    assert stacks["dev-pori"]["realm_changes"] == []
    text = summary.read_text(encoding="utf-8")
    demo = text[text.index("### dev-demo") :]
    assert f"**Realm changes:**\n- `{expected}`" in demo
    assert "### dev-pori" not in text  # nothing to say about it beyond its table row

    # for people: the realm lines under the city's result line, none under Pori's
    run = ociam(
        "preview", "--changed-since", "main", "--engine", "offline", "--env", "dev",
        root=checkout,
    )  # fmt: skip
    assert run.exit_code == 0, run.output
    lines = run.stdout.splitlines()
    (demo_line,) = [i for i, line in enumerate(lines) if line.startswith("ok       dev-demo ")]
    assert lines[demo_line + 1] == f"    realm {expected}", run.stdout
    assert [line for line in lines if line.startswith("    realm ")] == [f"    realm {expected}"]
