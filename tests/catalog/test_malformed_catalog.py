"""The malformed-catalog corpus: every bad input names file, line, field and reason,
exits 2 and writes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support import Cli, snapshot

DEMO = "dev/group_vars/demo.yml"
DEV_ALL = "dev/group_vars/all.yml"
PROD_PORI = "prod/group_vars/pori.yml"
PROD_ALL = "prod/group_vars/all.yml"
DEV_HOSTS = "dev/hosts.yml"


@dataclass(frozen=True)
class Case:
    """Replace ``old`` by ``new`` in ``file`` (or write ``new`` as the whole file when
    ``old`` is None); expect a problem in ``reported_in`` (default ``file``) on the line
    holding ``marker`` (None: no line), for ``field``, with ``reason`` in it."""

    id: str
    file: str
    old: str | None
    new: str | bytes
    field: str
    reason: str
    marker: str | None
    env: str = "dev"
    reported_in: str | None = None


CASES = [
    Case(
        "wrong-type-int-for-string",
        DEMO,
        'municipality_code: "999"',
        "municipality_code: 999",
        "city.municipality_code",
        "valid string",
        "municipality_code: 999",
    ),
    Case(
        "wrong-type-string-for-bool",
        DEMO,
        "ldap_federation: true",
        'ldap_federation: "yes"',
        "realms.employees.ldap_federation",
        "valid boolean",
        "ldap_federation",
    ),
    Case(
        "wrong-type-mapping-for-list",
        DEMO,
        "official_languages: [fi, sv]",
        "official_languages: {fi: true}",
        "city.official_languages",
        "valid list",
        "official_languages",
    ),
    Case(
        "unknown-top-level-key",
        DEMO,
        "admin_allowlist:",
        "admin_alowlist: []\nadmin_allowlist:",
        "admin_alowlist",
        "did you mean 'admin_allowlist'",
        "admin_alowlist",
    ),
    Case(
        "unknown-nested-key",
        DEMO,
        "    mfa: otp",
        "    mfa: otp\n    mfa_mode: totp",
        "realms.employees.mfa_mode",
        "unknown key",
        "mfa_mode",
    ),
    Case(
        "unknown-key-in-application",
        DEMO,
        "    access_type: public",
        "    access_type: public\n    pkce: S256",
        "applications[1].pkce",
        "allowed here: access_type, client_id",
        "pkce: S256",
    ),
    Case(
        "missing-required-field",
        DEMO,
        "  domain: demo.example\n",
        "",
        "city.domain",
        "required field is missing",
        "city:",
    ),
    Case(
        "missing-required-block",
        DEMO,
        "realms:\n  employees:",
        "realmz:\n  employees:",
        "realms",
        "required field is missing",
        # a missing top-level key is reported on the file's first line
        "---",
    ),
    Case(
        "invalid-yaml",
        DEMO,
        "official_languages: [fi, sv]",
        "official_languages: [fi, sv",
        "",
        "invalid YAML",
        "domain: demo.example",
    ),
    Case(
        "invalid-yaml-indentation",
        DEMO,
        "  slug: demo",
        "  slug: demo\n    extra: x",
        "",
        "invalid YAML",
        "extra: x",
    ),
    Case(
        "duplicate-yaml-key",
        DEMO,
        "    mfa: otp",
        "    mfa: otp\n    mfa: webauthn",
        "",
        "duplicate key 'mfa'",
        "mfa: webauthn",
    ),
    Case("empty-file", DEMO, None, "", "", "file is empty", ""),
    Case(
        "list-instead-of-mapping",
        DEMO,
        None,
        "- city: demo\n",
        "",
        "expected a YAML mapping",
        "- city: demo",
    ),
    Case(
        "vault-tag-inline",
        DEMO,
        "bind_password: {pulumi_secret: ldapBindPassword}",
        "bind_password: !vault |\n    $ANSIBLE_VAULT;1.1;AES256\n    6162",
        "",
        "inline '!vault' values are not allowed",
        "bind_password: !vault",
    ),
    Case(
        "secret-in-clear",
        DEMO,
        "bind_password: {pulumi_secret: ldapBindPassword}",
        "bind_password: Kissa123!",
        "ldap.bind_password",
        "secrets never live in the catalog in clear",
        "bind_password",
    ),
    Case(
        "bad-secret-key",
        DEMO,
        "{pulumi_secret: ldapBindPassword}",
        "{pulumi_secret: ldap-bind-password}",
        "ldap.bind_password.pulumi_secret",
        "does not match the required format",
        "bind_password",
    ),
    Case(
        "bad-cidr-prefix",
        DEMO,
        "203.0.113.0/28 ",
        "203.0.113.0/33 ",
        "admin_allowlist[0]",
        "not a valid IPv4 CIDR",
        "203.0.113.0/33",
    ),
    Case(
        "cidr-host-bits",
        DEMO,
        "198.51.100.144/28",
        "198.51.100.145/28",
        "admin_allowlist[1]",
        "did you mean '198.51.100.144/28'",
        "198.51.100.145/28",
    ),
    Case(
        "cidr-without-prefix",
        DEMO,
        "198.51.100.144/28",
        "198.51.100.144",
        "admin_allowlist[1]",
        "not a CIDR",
        "198.51.100.144",
    ),
    Case(
        "bad-ip-address",
        DEMO,
        "address: 10.99.0.11",
        "address: 10.99.0.300",
        "ldap.domain_controllers[0].address",
        "not a valid IPv4 address",
        "10.99.0.300",
    ),
    Case(
        "bad-slug",
        DEMO,
        "slug: demo",
        "slug: Demo-City",
        "city.slug",
        "does not match the required format",
        "slug: Demo-City",
    ),
    Case(
        "slug-not-file-name",
        DEMO,
        "slug: demo",
        "slug: demo2",
        "city.slug",
        "does not match the file name 'demo.yml'",
        "slug: demo2",
    ),
    Case(
        "bad-municipality-code",
        DEMO,
        'municipality_code: "999"',
        'municipality_code: "99"',
        "city.municipality_code",
        "does not match the required format",
        "municipality_code",
    ),
    Case(
        "duplicate-municipality-code",
        DEMO,
        'municipality_code: "999"',
        'municipality_code: "609"',
        "city.municipality_code",
        "municipality code '609' is also used by pori",
        "municipality_code",
    ),
    Case(
        "swedish-official-without-name",
        DEMO,
        "    sv: Demostad\n",
        "",
        "city",
        "names.sv is required when Swedish is an official language",
        "city:",
    ),
    Case(
        "duplicate-hostname-across-cities",
        DEMO,
        "admin_allowlist:",
        "hostnames:\n  public: pori.iam-dev.hameenlinna.fi\n  admin: demo-admin.example.fi\n"
        "admin_allowlist:",
        "hostnames.public",
        "hostname 'pori.iam-dev.hameenlinna.fi' is also used by pori",
        "public: pori.iam-dev.hameenlinna.fi",
    ),
    Case(
        "public-equals-admin-hostname",
        DEMO,
        "admin_allowlist:",
        "hostnames:\n  public: login.demo.example\n  admin: login.demo.example\nadmin_allowlist:",
        "hostnames",
        "public and admin hostnames must differ",
        "hostnames:",
    ),
    Case(
        "bad-hostname",
        DEMO,
        "domain: demo.example",
        "domain: Demo_Example",
        "city.domain",
        "not a fully qualified lower-case DNS name",
        "domain: Demo_Example",
    ),
    Case(
        "tunnel-address-outside-hub-network",
        DEMO,
        "tunnel_address: 172.20.0.99",
        "tunnel_address: 172.30.0.99",
        "connector.tunnel_address",
        "outside the hub tunnel_network 172.20.0.0/24",
        "tunnel_address",
    ),
    Case(
        "tunnel-address-is-hub",
        DEMO,
        "tunnel_address: 172.20.0.99",
        "tunnel_address: 172.20.0.1",
        "connector.tunnel_address",
        "the hub's own address",
        "tunnel_address",
    ),
    Case(
        "duplicate-tunnel-address",
        DEMO,
        "tunnel_address: 172.20.0.99",
        "tunnel_address: 172.20.0.11",
        "connector.tunnel_address",
        "tunnel address '172.20.0.11' is also used by pori",
        "tunnel_address",
    ),
    Case(
        "duplicate-hub-service-address",
        DEMO,
        "hub_service_address: 172.21.0.99",
        "hub_service_address: 172.21.0.10",
        "connector.hub_service_address",
        "hub service address '172.21.0.10' is also used by hameenlinna",
        "hub_service_address",
    ),
    Case(
        "application-realm-not-enabled",
        DEMO,
        "  residents:\n    suomifi:\n      request_personal_identity_code: true\n",
        "",
        "applications[1].realm",
        "realm 'residents' is not enabled",
        "realm: residents",
    ),
    Case(
        "application-unknown-realm",
        DEMO,
        "realm: employees\n    access_type: confidential",
        "realm: staff\n    access_type: confidential",
        "applications[0].realm",
        "'employees' or 'residents'",
        "realm: staff",
    ),
    Case(
        "unknown-application-protocol",
        DEMO,
        "- protocol: saml",
        "- protocol: cas",
        "applications[2]",
        "'openid-connect', 'saml'",
        "protocol: cas",
    ),
    Case(
        "confidential-client-without-secret",
        DEMO,
        "    client_secret: {pulumi_secret: intranetClientSecret}\n",
        "",
        "applications[0]",
        "confidential clients need client_secret",
        "- protocol: openid-connect",
    ),
    Case(
        "public-client-with-secret",
        DEMO,
        "    access_type: public",
        "    access_type: public\n    client_secret: {pulumi_secret: x}",
        "applications[1]",
        "public clients have no client_secret",
        "- protocol: openid-connect\n    client_id: asiointi",
    ),
    Case(
        "plain-http-redirect",
        DEMO,
        "https://dev-intra.demo.example/oauth2/callback",
        "http://dev-intra.demo.example/oauth2/callback",
        "applications[0].redirect_uris",
        "must be https://",
        "redirect_uris:",
    ),
    Case(
        "mfa-not-allowed",
        DEMO,
        "mfa: otp",
        "mfa: sms",
        "realms.employees.mfa",
        "'otp' or 'webauthn'",
        "mfa: sms",
    ),
    Case(
        "entra-tenant-not-uuid",
        DEMO,
        "tenant_id: 11111111-2222-3333-4444-555555555555",
        "tenant_id: contoso.onmicrosoft.com",
        "realms.employees.entra_id.tenant_id",
        "is not a UUID",
        "tenant_id",
    ),
    Case(
        "single-domain-controller",
        DEMO,
        "    - host: dc2.ad.demo.example\n      address: 10.99.0.12\n",
        "",
        "ldap.domain_controllers",
        "at least 2 items",
        "domain_controllers",
    ),
    Case(
        "bad-distinguished-name",
        DEMO,
        'users_dn: "OU=Users',
        'users_dn: "Users in ',
        "ldap.users_dn",
        "not an LDAP distinguished name",
        "users_dn",
    ),
    Case(
        "ldap-federation-without-ldap",
        DEMO,
        "ldap:\n  tls_server_name: ad.demo.example",
        "ad_directory:\n  tls_server_name: x",
        "ad_directory",
        "unknown key",
        "ad_directory",
    ),
    Case(
        "misspelled-block-name",
        DEMO,
        "ldap:\n",
        "ldapp:\n",
        "ldapp",
        "did you mean 'ldap'",
        "ldapp",
    ),
    Case(
        "wildcard-redirect-in-prod",
        PROD_PORI,
        '"https://asiointi.pori.fi/auth/callback"',
        '"https://asiointi.pori.fi/auth/callback"\n      - "https://*.pori.fi/auth/callback"',
        "applications[1].redirect_uris[1]",
        "wildcard 'https://*.pori.fi/auth/callback' is not allowed in prod",
        "https://*.pori.fi",
        env="prod",
    ),
    Case(
        "allowlist-too-broad-in-prod",
        PROD_PORI,
        "  - 203.0.113.0/28",
        "  - 0.0.0.0/0",
        "admin_allowlist[0]",
        "too broad for an allowlist",
        "0.0.0.0/0",
        env="prod",
    ),
    Case(
        "env-name-mismatch",
        DEV_ALL,
        "ociam_env: dev",
        "ociam_env: prod",
        "ociam_env",
        "does not match the folder 'dev'",
        "ociam_env: prod",
    ),
    Case(
        "suomifi-production-preset-outside-prod",
        DEV_ALL,
        "preset: test",
        "preset: production",
        "suomifi.preset",
        "dev must use the 'test' Suomi.fi metadata",
        "preset: production",
    ),
    Case(
        "suomifi-test-preset-in-prod",
        PROD_ALL,
        "preset: production",
        "preset: test",
        "suomifi.preset",
        "prod must use the 'production' Suomi.fi metadata",
        "preset: test",
        env="prod",
    ),
    Case(
        "moving-image-tag",
        DEV_ALL,
        'tag: "26.7.4"',
        "tag: latest",
        "images.keycloak.tag",
        "'latest' is a moving tag",
        "tag: latest",
    ),
    Case(
        "invented-looking-digest",
        DEV_ALL,
        'tag: "26.7.4"',
        'tag: "26.7.4"\n    digest: sha256:abc',
        "images.keycloak.digest",
        "does not match the required format",
        "digest: sha256:abc",
    ),
    Case(
        "hub-network-overlaps-pods",
        DEV_ALL,
        "tunnel_network: 172.20.0.0/24\n  tunnel_address: 172.20.0.1",
        "tunnel_network: 10.244.3.0/24\n  tunnel_address: 10.244.3.1",
        "hub.tunnel_network",
        "overlaps cluster.pod_cidrs[0] 10.244.0.0/16",
        "tunnel_network",
    ),
    Case(
        "cnpg-cron-five-fields",
        DEV_ALL,
        'schedule: "0 0 2 * * *"',
        'schedule: "0 2 * * *"',
        "backup.schedule",
        "six fields",
        "schedule",
    ),
    Case(
        "city-key-in-environment-file",
        DEV_ALL,
        "size_profile: dev",
        "size_profile: huge",
        "size_profile",
        "'dev', 'small' or 'ha'",
        "size_profile: huge",
    ),
    Case(
        "inventory-group-without-city-file",
        DEV_HOSTS,
        "        pori:\n",
        "        lahti:\n          hosts: {}\n        pori:\n",
        "all.children.cities.children.lahti",
        "has no city file group_vars/lahti.yml",
        "lahti:",
    ),
    Case(
        "city-file-without-inventory-group",
        DEV_HOSTS,
        "        demo:\n          hosts:\n            iam-connector-dev.demo.example:\n",
        "",
        "city.slug",
        "no inventory group 'demo' under 'cities'",
        "slug: demo",
        reported_in=DEMO,
    ),
    Case(
        "host-in-two-cities",
        DEV_HOSTS,
        "            iam-connector-dev.pori.fi:",
        "            iam-connector-dev.pori.fi:\n            iam-connector-dev.demo.example:",
        "all.children.cities.children.pori.hosts",
        "'iam-connector-dev.demo.example' is already a connector of 'demo'",
        "        pori:",
    ),
    Case(
        "inventory-without-cities-group",
        DEV_HOSTS,
        "    cities:\n      children:",
        "    towns:\n      children:",
        "all.children.cities.children",
        "the 'cities' group with one child group per city is missing",
        "  children:",
    ),
]


def _line_of(text: str, marker: str) -> int:
    index = text.index(marker)
    return text.count("\n", 0, index) + 1


def _apply(root: Path, case: Case) -> None:
    path = root / "inventories" / case.file
    if case.old is None:
        path.write_bytes(case.new if isinstance(case.new, bytes) else case.new.encode())
        return
    text = path.read_text(encoding="utf-8")
    assert case.old in text, f"corpus out of date: {case.old!r} not in {case.file}"
    assert isinstance(case.new, str)
    path.write_text(text.replace(case.old, case.new, 1), encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_malformed_catalog_is_rejected_with_location(
    case: Case, project_copy: Path, copy_cli: Cli
) -> None:
    _apply(project_copy, case)
    before = snapshot(project_copy)

    result = copy_cli("validate", "--env", case.env)

    assert result.exit_code == 2, result.output
    reported = case.reported_in or case.file
    path = project_copy / "inventories" / reported
    prefix = f"inventories/{reported}"
    if case.marker is not None:
        prefix += f":{_line_of(path.read_text(encoding='utf-8'), case.marker)}"
    prefix += ": "
    if case.field:
        prefix += f"{case.field}: "
    matching = [line for line in result.stderr.splitlines() if line.startswith(prefix)]
    assert matching, f"no line starting {prefix!r} in:\n{result.stderr}"
    assert any(case.reason in line for line in matching), f"no {case.reason!r} in {matching}"
    assert "error(s)" in result.stderr
    assert snapshot(project_copy) == before


def test_ldap_federation_needs_the_ldap_block(project_copy: Path, copy_cli: Cli) -> None:
    path = project_copy / "inventories" / DEMO
    text = path.read_text(encoding="utf-8")
    start = text.index("\nldap:\n")
    end = text.index("\napplications:")
    path.write_text(text[:start] + text[end:], encoding="utf-8")
    result = copy_cli("validate", "--env", "dev")
    assert result.exit_code == 2
    line = _line_of(path.read_text(encoding="utf-8"), "ldap_federation: true")
    assert (
        f"inventories/{DEMO}:{line}: realms.employees.ldap_federation: LDAP federation is "
        "on but the city has no ldap: block"
    ) in result.stderr


def test_duplicate_client_id_in_one_realm(project_copy: Path, copy_cli: Cli) -> None:
    path = project_copy / "inventories" / DEMO
    text = path.read_text(encoding="utf-8")
    duplicated = text.replace("client_id: asiointi", "client_id: intranet", 1)
    duplicated = duplicated.replace(
        "realm: residents\n    access_type: public", "realm: employees\n    access_type: public", 1
    )
    path.write_text(duplicated, encoding="utf-8")
    result = copy_cli("validate", "--env", "dev")
    assert result.exit_code == 2
    assert (
        "applications[1].client_id: client_id 'intranet' is already used by "
        "applications[0] in realm 'employees'" in result.stderr
    )


def test_same_client_id_in_different_realms_is_fine(project_copy: Path, copy_cli: Cli) -> None:
    path = project_copy / "inventories" / DEMO
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("client_id: asiointi", "client_id: intranet", 1), "utf-8")
    assert copy_cli("validate", "--env", "dev").exit_code == 0


def test_secret_in_clear_is_never_echoed(project_copy: Path, copy_cli: Cli) -> None:
    case = next(c for c in CASES if c.id == "secret-in-clear")
    _apply(project_copy, case)
    for output in ("table", "json"):
        result = copy_cli("validate", "--env", "dev", "--output", output)
        assert result.exit_code == 2
        assert "Kissa123" not in result.output


def test_corpus_is_large_enough() -> None:
    assert len({c.id for c in CASES}) == len(CASES) >= 30


def test_every_problem_is_reported_at_once(project_copy: Path, copy_cli: Cli) -> None:
    for case_id in ("bad-slug", "mfa-not-allowed", "cidr-host-bits"):
        _apply(project_copy, next(c for c in CASES if c.id == case_id))
    result = copy_cli("validate", "--env", "dev")
    assert result.exit_code == 2
    for field in ("city.slug", "realms.employees.mfa", "admin_allowlist[1]"):
        assert f": {field}: " in result.stderr


def test_unknown_environment_is_bad_input(cli: Cli) -> None:
    result = cli("validate", "--env", "qa")
    assert result.exit_code == 2
    assert "'qa' is not one of" in result.output


def test_unknown_city_is_bad_input(cli: Cli) -> None:
    result = cli("validate", "--env", "prod", "--city", "helsinki")
    assert result.exit_code == 2
    assert "unknown city 'helsinki' in prod; known: hameenlinna" in result.stderr
    result = cli("show", "helsinki", "--env", "prod")
    assert result.exit_code == 2
    assert "unknown city 'helsinki' in prod" in result.stderr


def test_json_output_lists_problems(project_copy: Path, copy_cli: Cli) -> None:
    import json

    _apply(project_copy, next(c for c in CASES if c.id == "mfa-not-allowed"))
    result = copy_cli("validate", "--env", "dev", "--output", "json")
    assert result.exit_code == 2
    report = json.loads(result.stdout)
    assert report["ok"] is False
    problem = next(
        p for p in report["environments"][0]["problems"] if p["field"] == "realms.employees.mfa"
    )
    assert problem["file"] == "inventories/dev/group_vars/demo.yml"
    assert problem["severity"] == "error"
    assert isinstance(problem["line"], int)


def test_stray_files_in_group_vars_are_rejected(project_copy: Path, copy_cli: Cli) -> None:
    group_vars = project_copy / "inventories" / "dev" / "group_vars"
    (group_vars / "lahti.yaml").write_text("city: {}\n")
    (group_vars / "cities.yml").write_text("ldap: {}\n")
    result = copy_cli("validate", "--env", "dev")
    assert result.exit_code == 2
    assert "inventories/dev/group_vars/lahti.yaml: unexpected entry in group_vars" in result.stderr
    assert (
        "inventories/dev/group_vars/cities.yml: group_vars/cities.yml would change" in result.stderr
    )


def test_city_filter_ignores_other_cities_problems(project_copy: Path, copy_cli: Cli) -> None:
    _apply(project_copy, next(c for c in CASES if c.id == "mfa-not-allowed"))
    assert copy_cli("validate", "--env", "dev", "--city", "pori").exit_code == 0
    assert copy_cli("validate", "--env", "dev", "--city", "demo").exit_code == 2


def test_strict_turns_warnings_into_errors(cli: Cli) -> None:
    relaxed = cli("validate", "--env", "prod")
    assert relaxed.exit_code == 0
    assert "warning: images.keycloak.digest: no digest pinned in prod" in relaxed.stderr
    assert cli("validate", "--env", "prod", "--strict").exit_code == 2
