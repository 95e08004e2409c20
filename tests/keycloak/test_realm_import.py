"""Every realm file of every city of every environment imports into the real Keycloak.

Each city's files are read exactly as its apply Job's keycloak-config-cli reads
them (textual ``$(env:...)`` substitution with the Job's environment from the
rendered Secret, then SnakeYAML; the real libraries, see config_cli.py), with
realm secrets that hold quotes, backslashes and ``$(``. Then Keycloak's own
import takes them with no error, its export shows every value the files set
(nothing ignored, nothing rewritten), a second import changes nothing, and a
client secret reads back exactly as typed.

All cities share the demo city's Keycloak, one after the other (realm names
repeat across cities). No LDAP server, Entra ID or Suomi.fi is reachable from
here; importing does not contact them (logging in through them is another tier).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from ociam.catalog import ENVIRONMENTS, load_environment
from tests.keycloak.config_cli import convert_extensions, read_like_config_cli
from tests.keycloak.conftest import PROJECT_ROOT, RunningCity
from tests.keycloak.deployment import (
    SUBSTITUTED_SECRET,
    RenderedStack,
    TestValues,
    cluster_state,
    job_env,
)
from tests.keycloak.realm_import import differences, export_realm, import_realm, reimport

pytestmark = pytest.mark.keycloak

STACKS = [
    (env, city)
    for env in ENVIRONMENTS
    for city in sorted(load_environment(PROJECT_ROOT, env).cities)
]
PLACEHOLDER = re.compile(r"\$\(env:([A-Z0-9_]+)\)")
#: what Keycloak's export returns differently from what it was given, on purpose
#: (none so far: every entry here needs a reason)
EXPECTED_REWRITES: dict[str, str] = {}


def _documents(stack: RenderedStack, values: TestValues) -> tuple[dict[str, Any], dict[str, str]]:
    env = job_env(stack, "apply", cluster_state(stack, values))
    return read_like_config_cli(stack.job_files("apply"), env), env


@pytest.mark.parametrize(("env", "city"), STACKS, ids=[f"{e}-{c}" for e, c in STACKS])
def test_realm_files_import_unchanged_and_a_second_import_changes_nothing(
    env: str,
    city: str,
    demo: RunningCity,
    rendered: dict[tuple[str, str], RenderedStack],
    test_values: TestValues,
) -> None:
    stack = rendered[(env, city)]
    documents, job_environment = _documents(stack, test_values)
    admin = demo.deployment.bootstrap_admin()
    assert documents, f"{env}/{city} renders no realm file"
    for filename, document in documents.items():
        converted = convert_extensions(document)
        assert not converted.ignored, (
            f"{filename}: keycloak-config-cli would skip {converted.ignored} "
            "(UserProfileImportService needs the realm attribute userProfileEnabled)"
        )
        import_realm(admin, converted)
        realm = converted.realm["realm"]
        first = export_realm(admin, realm)
        expected = {
            **converted.realm,
            "userProfile": converted.user_profile or first["userProfile"],
        }
        problems = [
            p for p in differences(expected, first) if p.split(":")[0] not in EXPECTED_REWRITES
        ]
        assert not problems, f"{env}/{city} {filename}:\n" + "\n".join(problems)

        summary = reimport(admin, converted)
        assert summary["added"] == 0 and summary["overwritten"] == 0, summary
        second = export_realm(admin, realm)
        assert not differences(first, second), differences(first, second)
        assert not differences(second, first), differences(second, first)

        # the client secrets arrive exactly as typed, hostile characters and all
        raw = json.loads(stack.job_files("apply")[filename])
        for client in raw.get("clients", []):
            match = PLACEHOLDER.fullmatch(str(client.get("secret", "")))
            if match is None:
                continue
            (found,) = admin.get(f"/{realm}/clients", params={"clientId": client["clientId"]})
            secret = admin.get(f"/{realm}/clients/{found['id']}/client-secret")["value"]
            assert secret == test_values.raw(SUBSTITUTED_SECRET, match[1]), client["clientId"]
            assert secret != job_environment[match[1]], "the test's secret has no hostile character"
