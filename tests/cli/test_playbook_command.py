"""``ociam playbook`` runs real ansible-playbook with the env's inventory and the city limit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROBE_PLAYBOOK = """\
---
- name: Report what Ansible sees for each host
  hosts: all
  gather_facts: false
  connection: local
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Write the host's view of the catalog
      ansible.builtin.copy:
        dest: "{{ report_dir }}/{{ inventory_hostname }}.json"
        content: "{{ {'slug': city.slug | default('hub'), 'check': ansible_check_mode,
                     'diff': ansible_diff_mode, 'env': ociam_env} | to_json }}"
        mode: "0644"
      check_mode: false
      tags: [report]
    - name: Fail when asked to
      ansible.builtin.fail:
        msg: failing on purpose
      when: fail_now | default(false) | bool
      tags: [fail]
"""


@pytest.fixture
def probe_checkout(project_copy: Path, tmp_path: Path) -> tuple[Path, Path]:
    (project_copy / "playbooks").mkdir()
    (project_copy / "playbooks" / "probe.yml").write_text(PROBE_PLAYBOOK)
    reports = tmp_path / "reports"
    reports.mkdir()
    return project_copy, reports


def _ociam(
    root: Path, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OCIAM_")}
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "ociam", "--root", str(root), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_city_limit_check_and_diff_reach_ansible(probe_checkout: tuple[Path, Path]) -> None:
    root, reports = probe_checkout
    result = _ociam(
        root,
        "playbook",
        "probe",
        "--env",
        "prod",
        "--city",
        "pori",
        "--check",
        "--diff",
        "--",
        "-e",
        f"report_dir={reports}",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    written = sorted(p.name for p in reports.iterdir())
    assert written == ["iam-connector.pori.fi.json"]
    seen = json.loads((reports / written[0]).read_text())
    assert seen == {"slug": "pori", "check": True, "diff": True, "env": "prod"}


def test_without_city_every_host_of_the_env_runs(probe_checkout: tuple[Path, Path]) -> None:
    root, reports = probe_checkout
    result = _ociam(
        root, "playbook", "probe", "--env", "staging", "--", "-e", f"report_dir={reports}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert len(list(reports.iterdir())) == 9  # hub + eight connectors
    hub = json.loads((reports / "hub.iam-staging.hameenlinna.fi.json").read_text())
    assert hub["slug"] == "hub"


def test_ansible_exit_code_is_returned_and_tags_pass(probe_checkout: tuple[Path, Path]) -> None:
    root, reports = probe_checkout
    failed = _ociam(
        root,
        "playbook",
        "probe",
        "--city",
        "demo",
        "--",
        "-e",
        f"report_dir={reports}",
        "-e",
        "fail_now=true",
    )
    assert failed.returncode == 2  # ansible-playbook: a host failed
    assert "failing on purpose" in failed.stdout
    assert "ansible-playbook exited with 2" in failed.stderr
    skipped = _ociam(
        root,
        "playbook",
        "probe",
        "--city",
        "demo",
        "--skip-tags",
        "fail",
        "--",
        "-e",
        f"report_dir={reports}",
        "-e",
        "fail_now=true",
    )
    assert skipped.returncode == 0, skipped.stdout
    only_fail = _ociam(
        root,
        "playbook",
        "probe",
        "--city",
        "demo",
        "--tags",
        "fail",
        "--",
        "-e",
        f"report_dir={reports / 'none'}",
    )
    assert only_fail.returncode == 0
    assert not (reports / "none").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["playbook", "nosuch", "--env", "dev"],
            "no playbook 'nosuch' (playbooks/nosuch.yml); available: probe",
        ),
        (["playbook", "probe", "--city", "helsinki"], "unknown city 'helsinki' in dev"),
        (
            ["playbook", "probe", "--vault-password-file", "/nonexistent"],
            "--vault-password-file /nonexistent does not exist",
        ),
    ],
)
def test_bad_input_runs_nothing(
    probe_checkout: tuple[Path, Path], args: list[str], message: str
) -> None:
    root, _ = probe_checkout
    result = _ociam(root, *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "PLAY [" not in result.stdout


def test_broken_catalog_runs_nothing(probe_checkout: tuple[Path, Path]) -> None:
    root, reports = probe_checkout
    demo = root / "inventories/dev/group_vars/demo.yml"
    demo.write_text(demo.read_text().replace("mfa: otp", "mfa: sms"))
    result = _ociam(root, "playbook", "probe", "--", "-e", f"report_dir={reports}")
    assert result.returncode == 2
    assert "realms.employees.mfa" in result.stderr
    assert not list(reports.iterdir())
