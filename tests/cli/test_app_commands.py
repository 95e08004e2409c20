"""``ociam app add | show | remove``: in-place edits of a city file, refusals, vendor sheet."""

from __future__ import annotations

import difflib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support import Cli, snapshot

PORI = Path("inventories/prod/group_vars/pori.yml")
SP_METADATA = """\
<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"
    entityID="https://kirjasto.pori.fi/saml/sp">
  <md:SPSSODescriptor AuthnRequestsSigned="false" WantAssertionsSigned="true"
      protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>
    <md:AssertionConsumerService index="1"
        Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact"
        Location="https://kirjasto.pori.fi/saml/artifact"/>
    <md:AssertionConsumerService index="0"
        Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
        Location="https://kirjasto.pori.fi/saml/acs"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
"""


@pytest.fixture
def checkout(project_copy: Path, project_root: Path) -> Path:
    """A disposable catalog plus the city program, so that it can be rendered."""
    shutil.copytree(project_root / "stacks", project_copy / "stacks")
    return project_copy


def _inserted_only(before: str, after: str) -> list[str]:
    """The lines ``after`` adds to ``before``; fails unless every other byte is unchanged."""
    old, new = before.splitlines(keepends=True), after.splitlines(keepends=True)
    ops = difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
    changes = [op for op in ops if op[0] != "equal"]
    assert [op[0] for op in changes] == ["insert"], changes
    _, _, _, j1, j2 = changes[0]
    assert new[:j1] + new[j2:] == old  # byte-identical outside the inserted lines
    return new[j1:j2]


def _realm(root: Path, out: Path, env: str, city: str, realm: str) -> dict[str, Any]:
    result = Cli(root)("render", "--env", env, "--city", city, "--out", str(out))
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads((out / env / city / f"realm-{realm}.json").read_text())
    return data


def _clients(realm: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["clientId"]: c for c in realm.get("clients", [])}


def test_add_oidc_public_and_saml_edit_in_place_and_render_exactly_those_clients(
    checkout: Path, tmp_path: Path
) -> None:
    cli = Cli(checkout)
    before_employees = _clients(_realm(checkout, tmp_path / "a", "prod", "pori", "employees"))
    before_residents = _clients(_realm(checkout, tmp_path / "a", "prod", "pori", "residents"))
    original = (checkout / PORI).read_text()

    confidential = cli(
        "app", "add", "pori", "--env", "prod", "--realm", "employees",
        "--name", "Päiväkoti / Daghem", "--protocol", "oidc",
        "--redirect-uri", "https://paivakoti.pori.fi/oauth2/callback",
    )  # fmt: skip
    assert confidential.exit_code == 0, confidential.output
    assert "added paivakoti-daghem (realm employees) in inventories/prod/group_vars/pori.yml" in (
        confidential.stdout
    )
    assert (
        "pulumi config set --secret ociam:paivakotiDaghemClientSecret --stack prod-pori"
        in confidential.stdout
    )
    after_first = (checkout / PORI).read_text()
    assert _inserted_only(original, after_first) == [
        "  - protocol: openid-connect\n",
        "    client_id: paivakoti-daghem\n",
        "    name: Päiväkoti / Daghem\n",
        "    realm: employees\n",
        "    access_type: confidential\n",
        "    redirect_uris:\n",
        '      - "https://paivakoti.pori.fi/oauth2/callback"\n',
        "    web_origins:\n",
        '      - "https://paivakoti.pori.fi"\n',
        "    client_secret: {pulumi_secret: paivakotiDaghemClientSecret}\n",
    ]

    public = cli(
        "app", "add", "pori", "--env", "prod", "--realm", "residents", "--name", "Kirjasto app",
        "--client-id", "kirjasto-mobile", "--protocol", "oidc", "--public",
        "--redirect-uri", "https://app.kirjasto.pori.fi/callback",
        "--redirect-uri", "https://app.kirjasto.pori.fi/silent-renew",
    )  # fmt: skip
    assert public.exit_code == 0, public.output
    assert "pulumi config set" not in public.stdout
    after_second = (checkout / PORI).read_text()
    added = "".join(_inserted_only(after_first, after_second))
    assert "access_type: public\n" in added and "client_secret" not in added

    metadata = tmp_path / "sp.xml"
    metadata.write_text(SP_METADATA)
    saml = cli(
        "app", "add", "pori", "--env", "prod", "--realm", "residents", "--name", "Kirjasto",
        "--protocol", "saml", "--saml-metadata", str(metadata), "-o", "json",
    )  # fmt: skip
    assert saml.exit_code == 0, saml.output
    assert json.loads(saml.stdout)["client_id"] == "https://kirjasto.pori.fi/saml/sp"
    added = "".join(_inserted_only(after_second, (checkout / PORI).read_text()))
    assert '    redirect_uris:\n      - "https://kirjasto.pori.fi/saml/acs"\n' in added
    assert "    name_id_format: transient\n" in added

    validate = cli("validate", "--env", "prod", "--city", "pori")
    assert validate.exit_code == 0, validate.output

    employees = _clients(_realm(checkout, tmp_path / "b", "prod", "pori", "employees"))
    residents = _clients(_realm(checkout, tmp_path / "b", "prod", "pori", "residents"))
    assert set(employees) - set(before_employees) == {"paivakoti-daghem"}
    assert {k: employees[k] for k in before_employees} == before_employees
    assert set(residents) - set(before_residents) == {
        "kirjasto-mobile",
        "https://kirjasto.pori.fi/saml/sp",
    }
    assert {k: residents[k] for k in before_residents} == before_residents
    new = employees["paivakoti-daghem"]
    assert new["protocol"] == "openid-connect" and new["publicClient"] is False
    assert new["name"] == "Päiväkoti / Daghem"
    assert new["redirectUris"] == ["https://paivakoti.pori.fi/oauth2/callback"]
    assert new["attributes"]["pkce.code.challenge.method"] == "S256"
    assert new["secret"] == "$(env:OCIAM_SECRET_PAIVAKOTI_DAGHEM_CLIENT_SECRET)"
    mobile = residents["kirjasto-mobile"]
    assert mobile["publicClient"] is True and "secret" not in mobile
    assert mobile["redirectUris"] == [
        "https://app.kirjasto.pori.fi/callback",
        "https://app.kirjasto.pori.fi/silent-renew",
    ]
    library = residents["https://kirjasto.pori.fi/saml/sp"]
    assert library["protocol"] == "saml"
    assert library["redirectUris"] == ["https://kirjasto.pori.fi/saml/acs"]
    assert library["attributes"]["saml_name_id_format"] == "transient"


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (
            ["--realm", "employees", "--name", "Intranet", "--protocol", "oidc",
             "--redirect-uri", "https://intra2.pori.fi/cb"],
            "applications[2].client_id: client_id 'intranet' is already used by "
            "applications[0] in realm 'employees'",
        ),
        (
            ["--realm", "employees", "--name", "Review", "--protocol", "oidc",
             "--redirect-uri", "https://*.review.pori.fi/cb"],
            "applications[2].redirect_uris[0]: wildcard 'https://*.review.pori.fi/cb' is not "
            "allowed in prod",
        ),
        (
            ["--realm", "employees", "--name", "Old", "--protocol", "oidc",
             "--redirect-uri", "http://old.pori.fi/cb", "--web-origin", "https://old.pori.fi"],
            "must be https:// (http only for localhost)",
        ),
        (
            ["--realm", "residents", "--name", "Kirjasto", "--protocol", "saml"],
            "--saml-metadata FILE (or --client-id ENTITY-ID) is needed for SAML",
        ),
        (
            ["--realm", "employees", "--name", "X", "--protocol", "oidc"],
            "--redirect-uri: an OIDC application needs at least one",
        ),
        (
            ["--realm", "employees", "--name", "X", "--protocol", "saml", "--public",
             "--client-id", "https://x.pori.fi/sp", "--redirect-uri", "https://x.pori.fi/acs"],
            "--public: only for OIDC applications",
        ),
    ],
)  # fmt: skip
def test_add_refusals_write_nothing(project_copy: Path, args: list[str], reason: str) -> None:
    before = snapshot(project_copy)
    result = Cli(project_copy)("app", "add", "pori", "--env", "prod", *args)
    assert result.exit_code == 2, result.output
    assert reason in result.stderr
    assert "nothing written" in result.stderr
    assert "warning:" not in result.stderr  # only what is wrong
    assert snapshot(project_copy) == before


def test_add_to_a_realm_that_is_not_enabled_is_refused(project_copy: Path) -> None:
    cli = Cli(project_copy)
    kajaani = project_copy / "inventories" / "staging" / "group_vars" / "kajaani.yml"
    removed = cli("app", "remove", "kajaani", "asiointi", "--env", "staging")
    assert removed.exit_code == 0, removed.output
    text = kajaani.read_text()
    residents = "  residents:\n    suomifi:\n      request_personal_identity_code: false\n"
    assert residents in text
    kajaani.write_text(text.replace(residents, ""))
    assert cli("validate", "--env", "staging").exit_code == 0
    before = snapshot(project_copy)
    result = cli(
        "app", "add", "kajaani", "--env", "staging", "--realm", "residents", "--name", "Kirjasto",
        "--protocol", "oidc", "--public", "--redirect-uri", "https://kirjasto.kajaani.fi/cb",
    )  # fmt: skip
    assert result.exit_code == 2
    assert "kajaani.yml" in result.stderr
    assert "realm 'residents' is not enabled in realms:" in result.stderr
    assert snapshot(project_copy) == before


def test_comments_survive_add_and_remove_byte_for_byte(project_copy: Path) -> None:
    cli = Cli(project_copy)
    path = project_copy / PORI
    text = path.read_text()
    text = text.replace(
        "  - protocol: openid-connect\n    client_id: asiointi\n",
        "  # Asiointi: the residents' e-services (go-live 2026)\n"
        "  - protocol: openid-connect  # public SPA\n    client_id: asiointi\n",
    ).replace("\nconnector:\n", "\n# the connector host below is managed by Pori IT\nconnector:\n")
    path.write_text(text)
    added = cli(
        "app", "add", "pori", "--env", "prod", "--realm", "employees", "--name", "Wiki",
        "--protocol", "oidc", "--redirect-uri", "https://wiki.pori.fi/oidc/callback",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    after = path.read_text()
    inserted = _inserted_only(text, after)
    assert inserted[0] == "  - protocol: openid-connect\n"
    # the new entry went after the last application, before the blank line and the comment
    # that head connector:
    assert after.index("client_id: wiki") < after.index("\n\n# the connector host")
    removed = cli("app", "remove", "pori", "wiki", "--env", "prod")
    assert removed.exit_code == 0, removed.output
    assert path.read_text() == text  # add then remove: the file as it was, byte for byte
    removed = cli("app", "remove", "pori", "asiointi", "--env", "prod")
    assert removed.exit_code == 0, removed.output
    now = path.read_text()
    assert "# Asiointi: the residents' e-services" not in now  # its own comment went with it
    assert "# the connector host below is managed by Pori IT\n" in now
    start = text.index("  # Asiointi: the")
    last = '      - "https://asiointi.pori.fi"\n'
    assert now == text[:start] + text[text.index(last) + len(last) :]


def test_removing_the_last_application_leaves_an_empty_list(project_copy: Path) -> None:
    cli = Cli(project_copy)
    for name in ("intranet", "asiointi"):
        assert cli("app", "remove", "pori", name, "--env", "staging").exit_code == 0
    text = (project_copy / "inventories" / "staging" / "group_vars" / "pori.yml").read_text()
    assert "\napplications: []\n" in text
    again = cli(
        "app", "add", "pori", "--env", "staging", "--realm", "residents", "--name", "Asiointi",
        "--protocol", "oidc", "--public", "--redirect-uri", "https://asiointi.pori.fi/cb",
    )  # fmt: skip
    assert again.exit_code == 0, again.output
    assert (
        "\napplications:\n  - protocol: openid-connect\n"
        in (project_copy / "inventories" / "staging" / "group_vars" / "pori.yml").read_text()
    )


def test_remove_refuses_an_unknown_or_ambiguous_name(project_copy: Path) -> None:
    cli = Cli(project_copy)
    before = snapshot(project_copy)
    unknown = cli("app", "remove", "pori", "kirjasto", "--env", "prod")
    assert unknown.exit_code == 2
    assert "no application 'kirjasto' in pori; known: intranet (employees), asiointi" in (
        unknown.stderr
    )
    assert snapshot(project_copy) == before
    twin = cli(
        "app", "add", "pori", "--env", "prod", "--realm", "residents", "--name", "Intranet",
        "--protocol", "oidc", "--public", "--redirect-uri", "https://intra.pori.fi/residents",
    )  # fmt: skip
    assert twin.exit_code == 0, twin.output  # client ids are unique per realm
    ambiguous = cli("app", "remove", "pori", "intranet", "--env", "prod")
    assert ambiguous.exit_code == 2
    assert "names 2 applications of pori; add --realm" in ambiguous.stderr
    by_realm = cli("app", "remove", "pori", "intranet", "--env", "prod", "--realm", "residents")
    assert by_realm.exit_code == 0, by_realm.output
    assert (project_copy / PORI).read_text() == before[str(PORI)].decode()


def test_dry_run_prints_the_diff_and_writes_nothing(project_copy: Path) -> None:
    before = snapshot(project_copy)
    result = Cli(project_copy)(
        "app", "add", "pori", "--env", "prod", "--realm", "employees", "--name", "Wiki",
        "--protocol", "oidc", "--redirect-uri", "https://wiki.pori.fi/cb", "--dry-run",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("--- a/inventories/prod/group_vars/pori.yml\n")
    assert "+    client_id: wiki\n" in result.stdout
    assert snapshot(project_copy) == before


def test_a_second_writer_is_refused_while_the_catalog_is_locked(project_copy: Path) -> None:
    from ociam.fileio import exclusive

    before = snapshot(project_copy)
    with exclusive(project_copy / "inventories", "test"):
        result = Cli(project_copy)("app", "remove", "pori", "intranet", "--env", "prod")
    assert result.exit_code == 1
    assert "another ociam process is changing the catalog" in result.stderr
    assert snapshot(project_copy) == before


def test_hostile_metadata_is_refused(project_copy: Path, tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.xml"
    bomb.write_text(
        '<?xml version="1.0"?>\n<!DOCTYPE lol [<!ENTITY lol "lol">]>\n'
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="&lol;"/>'
    )
    result = Cli(project_copy)(
        "app", "add", "pori", "--env", "prod", "--realm", "residents", "--name", "X",
        "--protocol", "saml", "--saml-metadata", str(bomb),
    )  # fmt: skip
    assert result.exit_code == 2
    assert "DOCTYPE and entities are not allowed" in result.stderr


def test_show_oidc_confidential_prints_what_the_vendor_needs(checkout: Path) -> None:
    cli = Cli(checkout)
    result = cli("app", "show", "pori", "intranet", "--env", "prod")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Issuer            https://tunnistus.pori.fi/realms/employees\n" in out
    assert "https://tunnistus.pori.fi/realms/employees/.well-known/openid-configuration" in out
    assert "Client ID         intranet\n" in out
    project = checkout.resolve() / "stacks/city"
    command = f"pulumi config get ociam:intranetClientSecret --stack prod-pori --cwd {project}"
    assert command in out
    assert "PKCE with code_challenge_method=S256" in out
    assert "client_secret_basic or client_secret_post" in out
    assert "<secret>" not in out and "$(env:" not in out
    data = json.loads(cli("app", "show", "pori", "Intranet", "--env", "prod", "-o", "json").stdout)
    assert data["client_id"] == "intranet"
    assert data["issuer"] == "https://tunnistus.pori.fi/realms/employees"
    assert data["secret_command"].endswith(command)


def _run_printed(command: str, cwd: Path, bin_dir: Path) -> list[str]:
    """Runs a printed ``pulumi`` command in a shell from ``cwd``, with a stand-in ``pulumi``
    that prints its backend, then the directory ``--cwd`` names (resolved, as the real
    CLI changes into it) and the files there, then its arguments."""
    stand_in = bin_dir / "pulumi"
    stand_in.write_text(
        "#!/bin/sh\n"
        'echo "$PULUMI_BACKEND_URL"\n'
        'for a; do [ "$prev" = --cwd ] && (cd "$a" && pwd && ls); prev=$a; done\n'
        'printf "%s\\n" "$@"\n'
    )
    stand_in.chmod(0o755)
    path = f"{bin_dir}:{os.environ['PATH']}"
    result = subprocess.run(
        ["sh", "-c", command],
        cwd=cwd,
        env={"PATH": path},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_secret_commands_work_from_any_directory(project_root: Path, tmp_path: Path) -> None:
    """The printed commands name the checkout's stacks/city and the backend ociam uses
    absolutely, quoted for the shell, so a vendor contact can run them from anywhere."""
    checkout = tmp_path / "the checkout"  # a space, for the quoting
    shutil.copytree(project_root / "inventories", checkout / "inventories")
    shutil.copytree(project_root / "stacks", checkout / "stacks")
    shutil.copy2(project_root / "pyproject.toml", checkout / "pyproject.toml")
    elsewhere, bin_dir = tmp_path / "elsewhere", tmp_path / "bin"
    elsewhere.mkdir(), bin_dir.mkdir()
    cli = Cli(checkout)
    backend = {"OCIAM_PULUMI_BACKEND_URL": "file://state/pulumi"}  # relative: from the checkout
    shown = cli("app", "show", "pori", "intranet", "--env", "prod", "-o", "json", env=backend)
    assert shown.exit_code == 0, shown.output
    lines = _run_printed(json.loads(shown.stdout)["secret_command"], elsewhere, bin_dir)
    project = str(checkout.resolve() / "stacks/city")
    assert lines[:2] == [f"file://{checkout.resolve()}/state/pulumi", project]
    assert "Pulumi.yaml" in lines and "__main__.py" in lines
    assert lines[-7:] == [
        "config", "get", "ociam:intranetClientSecret", "--stack", "prod-pori", "--cwd", project,
    ]  # fmt: skip

    added = cli(
        "app", "add", "pori", "--env", "prod", "--realm", "employees", "--name", "Kirjasto",
        "--protocol", "oidc", "--redirect-uri", "https://kirjasto.pori.fi/callback",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    (hint,) = [line for line in added.stdout.splitlines() if line.startswith("next: ")]
    lines = _run_printed(hint.split("pulumi asks for it): ", 1)[1], elsewhere, bin_dir)
    assert lines[:2] == ["file://~/.ociam/pulumi-state", project]
    assert lines[-8:] == [
        "config", "set", "--secret", "ociam:kirjastoClientSecret", "--stack", "prod-pori",
        "--cwd", project,
    ]  # fmt: skip


def test_show_saml_prints_the_idp_metadata(checkout: Path) -> None:
    result = Cli(checkout)("app", "show", "demo", "Varaamo", "-o", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    base = "https://demo.iam-dev.hameenlinna.fi/realms/residents"
    assert data["idp_metadata_url"] == f"{base}/protocol/saml/descriptor"
    assert data["idp_entity_id"] == base
    assert data["sp_entity_id"] == "https://dev-varaamo.demo.example/saml/metadata"
    assert data["acs_urls"] == ["https://dev-varaamo.demo.example/saml/acs"]
    required = " ".join(data["required_settings"])
    assert "responses are signed (RSA_SHA256)" in required
    assert "AuthnRequests need not be signed" in required


def test_show_public_client_has_no_secret(checkout: Path) -> None:
    result = Cli(checkout)("app", "show", "demo", "asiointi")
    assert result.exit_code == 0, result.output
    assert "public client" in result.stdout
    assert "Secret command" not in result.stdout
    assert "PKCE with code_challenge_method=S256" in result.stdout


def test_show_unknown_application(cli: Cli) -> None:
    result = cli("app", "show", "pori", "nosuch", "--env", "prod")
    assert result.exit_code == 2
    assert "no application 'nosuch' in pori" in result.stderr


def test_help_is_instant_and_lists_the_commands(cli: Cli) -> None:
    result = cli("app", "--help")
    assert result.exit_code == 0
    for command in ("add", "show", "remove"):
        assert command in result.stdout
