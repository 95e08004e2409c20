"""The rules of issue 4 over every realm of every seed city, and the builder's units."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import pytest

from ociam.catalog import CityConfig
from ociam.catalog.city import OidcApplication
from ociam.catalog.secrets import SecretRef
from ociam.realms import RealmBuildError, build_realms
from ociam.realms.clients import ApplicationError
from ociam.realms.config_client import CONFIG_CLIENT_ID, REALM_ADMIN_ROLES
from ociam.realms.placeholders import env_name, placeholders_in, substitution_safe
from ociam.realms.security import PASSWORD_POLICY
from tests.realms.realm_support import all_cities, by, city, walk

CITIES = all_cities()
PLACEHOLDER = re.compile(r"^\$\(env:[A-Z][A-Z0-9_]*\)$")
SECRET_FIELDS = {"secret", "clientSecret", "bindCredential", "privateKey"}
TEST_METADATA = "https://static.apro.tunnistus.fi/static/metadata/idp-metadata.xml"
PROD_METADATA = "https://tunnistus.suomi.fi/static/metadata/idp-metadata.xml"


def documents(config: CityConfig) -> dict[str, dict[str, Any]]:
    return {f.realm: json.loads(f.text) for f in build_realms(config).realms}


def ids(config: CityConfig) -> str:
    return config.stack_name


@pytest.mark.parametrize("config", CITIES, ids=ids)
def test_secrets_are_only_env_placeholders_bound_to_the_catalog_refs(config: CityConfig) -> None:
    realms = build_realms(config)
    for item in (*realms.realms, *realms.bootstrap):
        for path, value in walk(item.document):
            leaf = path.rsplit(".", 1)[-1].split("[")[0]
            if leaf in SECRET_FIELDS:
                assert isinstance(value, str) and PLACEHOLDER.match(value), (item.filename, path)
    needed = {name for f in realms.realms for name in f.env_names}
    assert needed == {b.env for b in realms.secrets}
    catalog_keys = set(config.spec.model_dump_json().split('"pulumi_secret":"')[1:])
    bound = {b.config_key for b in realms.secrets}
    assert bound <= {k.split('"', 1)[0] for k in catalog_keys}


@pytest.mark.parametrize("config", CITIES, ids=ids)
def test_brute_force_and_baseline_on_every_realm(config: CityConfig) -> None:
    for name, realm in documents(config).items():
        assert realm["bruteForceProtected"] is True, name
        assert realm["permanentLockout"] is False
        assert realm["failureFactor"] <= 10
        assert realm["sslRequired"] == "external"
        assert realm["registrationAllowed"] is False
        assert realm["eventsEnabled"] and realm["adminEventsEnabled"]
        assert realm["eventsExpiration"] > 0
        assert realm["defaultLocale"] == "fi"
        assert realm["supportedLocales"] == ["fi", "sv", "en"]
        headers = realm["browserSecurityHeaders"]
        assert headers["xContentTypeOptions"] == "nosniff"
        assert "frame-ancestors 'self'" in headers["contentSecurityPolicy"]
        assert headers["strictTransportSecurity"].startswith("max-age=31536000")
        assert realm["accessTokenLifespan"] <= 3600


@pytest.mark.parametrize("config", CITIES, ids=ids)
def test_every_public_client_requires_pkce_s256_and_no_client_has_password_grant(
    config: CityConfig,
) -> None:
    for realm in documents(config).values():
        for client in realm.get("clients", []):
            if client["protocol"] != "openid-connect":
                continue
            assert client["directAccessGrantsEnabled"] is False
            assert client["implicitFlowEnabled"] is False
            if client["publicClient"]:
                assert client["attributes"]["pkce.code.challenge.method"] == "S256"


@pytest.mark.parametrize("config", [c for c in CITIES if c.env == "prod"], ids=ids)
def test_no_wildcard_uri_in_prod(config: CityConfig) -> None:
    for realm in documents(config).values():
        for client in realm.get("clients", []):
            uris = [
                *client.get("redirectUris", []),
                *client.get("webOrigins", []),
                *client.get("attributes", {}).get("post.logout.redirect.uris", "").split("##"),
            ]
            assert not [u for u in uris if "*" in u], client["clientId"]


def test_the_builder_itself_refuses_a_wildcard_in_prod_but_not_in_dev() -> None:
    dev = city("dev", "demo")
    assert any("*" in u for a in dev.spec.applications for u in a.redirect_uris)
    build_realms(dev)
    prod = dataclasses.replace(dev, env="prod")
    with pytest.raises(ApplicationError, match="wildcard"):
        build_realms(prod)


@pytest.mark.parametrize("config", CITIES, ids=ids)
def test_suomifi_preset_matches_the_environment(config: CityConfig) -> None:
    realm = documents(config).get("residents")
    if realm is None:
        pytest.skip("no residents realm")
    idp = by(realm["identityProviders"], "alias", "suomifi")["config"]
    if config.env == "prod":
        assert idp["metadataDescriptorUrl"] == PROD_METADATA
        assert idp["idpEntityId"] == "https://tunnistautuminen.suomi.fi/idp1"
        assert idp["singleSignOnServiceUrl"].startswith("https://tunnistautuminen.suomi.fi/")
    else:
        assert idp["metadataDescriptorUrl"] == TEST_METADATA
        assert idp["idpEntityId"] == "https://testi.apro.tunnistus.fi/idp1"
        assert idp["singleSignOnServiceUrl"].startswith("https://testi.apro.tunnistus.fi/")
    assert idp["wantAuthnRequestsSigned"] == "true"
    assert idp["wantAssertionsSigned"] == "true"
    assert idp["wantAssertionsEncrypted"] == "true"
    assert idp["validateSignature"] == "true"
    assert idp["useMetadataDescriptorUrl"] == "true"
    assert idp["entityId"] == f"https://{config.hostnames.public}/realms/residents"


@pytest.mark.parametrize("config", CITIES, ids=ids)
def test_personal_identity_code_is_mapped_only_when_asked(config: CityConfig) -> None:
    residents = config.spec.realms.residents
    realm = documents(config).get("residents")
    if realm is None or residents is None:
        pytest.skip("no residents realm")
    mapped = [
        m
        for m in realm["identityProviderMappers"]
        if m["config"].get("attribute.name") == "urn:oid:1.2.246.21"
    ]
    profile = [a["name"] for a in realm["userProfile"]["attributes"]]
    if residents.suomifi.request_personal_identity_code:
        assert len(mapped) == 1
        assert mapped[0]["config"]["user.attribute"] == "personalIdentityCode"
        attribute = by(realm["userProfile"]["attributes"], "name", "personalIdentityCode")
        assert attribute["permissions"] == {"view": ["admin"], "edit": ["admin"]}
    else:
        assert mapped == []
        assert "personalIdentityCode" not in profile
    username = by(realm["identityProviderMappers"], "name", "username")
    assert "UUID" in username["config"]["template"]
    assert "passwordPolicy" not in realm


def test_residents_login_goes_straight_to_suomifi_and_first_login_never_links() -> None:
    realm = documents(city("dev", "demo"))["residents"]
    browser = by(realm["authenticationFlows"], "alias", realm["browserFlow"])
    steps = [e.get("authenticator") for e in browser["authenticationExecutions"]]
    assert steps == ["auth-cookie", "identity-provider-redirector"]
    redirect = by(realm["authenticatorConfig"], "alias", "residents to suomifi")
    assert redirect["config"] == {"defaultProvider": "suomifi"}
    first = by(realm["identityProviders"], "alias", "suomifi")["firstBrokerLoginFlowAlias"]
    flow = by(realm["authenticationFlows"], "alias", first)
    authenticators = [e["authenticator"] for e in flow["authenticationExecutions"]]
    assert "idp-create-user-if-unique" in authenticators
    assert not {"idp-auto-link", "idp-email-verification", "idp-username-password-form"} & set(
        authenticators
    )


@pytest.mark.parametrize("config", [c for c in CITIES if c.ldap is not None], ids=ids)
def test_ldap_federation_reaches_ad_through_the_hub_read_only(config: CityConfig) -> None:
    realm = documents(config)["employees"]
    (ldap,) = realm["components"]["org.keycloak.storage.UserStorageProvider"]
    c = {k: v[0] for k, v in ldap["config"].items()}
    assert c["connectionUrl"] == config.ldap_url
    assert c["connectionUrl"].startswith("ldaps://") and c["connectionUrl"].endswith(":636")
    assert (c["vendor"], c["usernameLDAPAttribute"], c["uuidLDAPAttribute"]) == (
        "ad",
        "sAMAccountName",
        "objectGUID",
    )
    assert c["editMode"] == "READ_ONLY"
    assert c["syncRegistrations"] == "false"
    assert c["bindDn"] == config.ldap.bind_dn  # type: ignore[union-attr]
    assert c["bindCredential"] == f"$(env:{env_name(config.ldap.bind_password)})"  # type: ignore[union-attr]
    assert int(c["changedSyncPeriod"]) == config.ldap.sync.changed_sync_period_seconds  # type: ignore[union-attr]
    assert int(c["fullSyncPeriod"]) > 0
    mappers = ldap["subComponents"]["org.keycloak.storage.ldap.mappers.LDAPStorageMapper"]
    groups = by(mappers, "name", "groups")
    assert groups["providerId"] == "group-ldap-mapper"
    assert groups["config"]["mode"] == ["READ_ONLY"]
    assert groups["config"]["groups.dn"] == [config.ldap.groups_dn]  # type: ignore[union-attr]
    assert groups["config"]["drop.non.existing.groups.during.sync"] == ["false"]
    assert "passwordPolicy" not in realm


@pytest.mark.parametrize("config", [c for c in CITIES if c.spec.realms.employees], ids=ids)
def test_password_logins_of_employees_require_the_configured_second_factor(
    config: CityConfig,
) -> None:
    spec = config.spec.realms.employees
    assert spec is not None
    realm = documents(config)["employees"]
    browser = by(realm["authenticationFlows"], "alias", realm["browserFlow"])
    (forms,) = [e for e in browser["authenticationExecutions"] if e["authenticatorFlow"]]
    password = by(realm["authenticationFlows"], "alias", forms["flowAlias"])
    executions = {
        e["authenticator"]: e["requirement"] for e in password["authenticationExecutions"]
    }
    factor = "auth-otp-form" if spec.mfa == "otp" else "webauthn-authenticator"
    assert executions == {"auth-username-password-form": "REQUIRED", factor: "REQUIRED"}
    action = "CONFIGURE_TOTP" if spec.mfa == "otp" else "webauthn-register"
    assert by(realm["requiredActions"], "alias", action)["enabled"] is True


def test_entra_id_is_tenant_pinned_and_links_to_ad_accounts_only() -> None:
    demo = city("dev", "demo")
    realm = documents(demo)["employees"]
    entra = by(realm["identityProviders"], "alias", "entra-id")
    tenant = str(demo.spec.realms.employees.entra_id.tenant_id)  # type: ignore[union-attr]
    assert entra["config"]["issuer"] == f"https://login.microsoftonline.com/{tenant}/v2.0"
    assert entra["config"]["clientSecret"] == "$(env:OCIAM_SECRET_ENTRA_CLIENT_SECRET)"
    assert entra["config"]["pkceMethod"] == "S256"
    assert entra["config"]["syncMode"] == "IMPORT"
    flow = by(realm["authenticationFlows"], "alias", entra["firstBrokerLoginFlowAlias"])
    assert [e["authenticator"] for e in flow["authenticationExecutions"]] == [
        "idp-detect-existing-broker-user",
        "idp-auto-link",
    ]


def test_a_realm_with_local_passwords_gets_the_password_policy() -> None:
    demo = city("dev", "demo")
    employees = demo.spec.realms.employees
    assert employees is not None
    local = employees.model_copy(update={"ldap_federation": False, "entra_id": None})
    realms = demo.spec.realms.model_copy(update={"employees": local})
    spec = demo.spec.model_copy(update={"realms": realms})
    realm = documents(dataclasses.replace(demo, spec=spec))["employees"]
    assert realm["passwordPolicy"] == PASSWORD_POLICY
    assert "length(12)" in realm["passwordPolicy"] and "notUsername" in realm["passwordPolicy"]
    assert "components" not in realm


def test_ldap_federation_without_ldap_block_is_refused() -> None:
    demo = city("dev", "demo")
    spec = demo.spec.model_copy(update={"ldap": None})
    with pytest.raises(RealmBuildError, match="ldap"):
        build_realms(dataclasses.replace(demo, spec=spec))


def test_confidential_clients_get_their_secret_by_env_and_roles_are_created() -> None:
    demo = city("dev", "demo")
    app = demo.spec.applications[0]
    assert isinstance(app, OidcApplication) and app.access_type == "confidential"
    with_roles = app.model_copy(update={"roles": ["reader", "admin"], "default_scopes": ["phone"]})
    spec = demo.spec.model_copy(update={"applications": [with_roles, *demo.spec.applications[1:]]})
    realm = documents(dataclasses.replace(demo, spec=spec))["employees"]
    client = by(realm["clients"], "clientId", "intranet")
    assert client["secret"] == "$(env:OCIAM_SECRET_INTRANET_CLIENT_SECRET)"
    assert client["publicClient"] is False and client["fullScopeAllowed"] is False
    assert client["redirectUris"] == app.redirect_uris
    assert "phone" in client["defaultClientScopes"] and "profile" in client["defaultClientScopes"]
    assert [r["name"] for r in realm["roles"]["client"]["intranet"]] == ["admin", "reader"]


def test_unknown_client_scope_is_refused() -> None:
    demo = city("dev", "demo")
    app = demo.spec.applications[0].model_copy(update={"default_scopes": ["no-such-scope"]})
    spec = demo.spec.model_copy(update={"applications": [app]})
    with pytest.raises(ApplicationError, match="no-such-scope"):
        build_realms(dataclasses.replace(demo, spec=spec))


def test_saml_service_provider() -> None:
    realm = documents(city("dev", "demo"))["residents"]
    sp = by(realm["clients"], "protocol", "saml")
    assert sp["clientId"] == "https://dev-varaamo.demo.example/saml/metadata"
    assert sp["attributes"]["saml.server.signature"] == "true"
    assert sp["attributes"]["saml_name_id_format"] == "persistent"


def test_bootstrap_gives_the_config_client_least_privilege_only() -> None:
    realms = build_realms(city("dev", "demo"))
    files = {f.filename: f.document for f in realms.bootstrap}
    assert [f.filename for f in realms.bootstrap] == [
        "00-shell-employees.json",
        "01-shell-residents.json",
        "90-master-config-client.json",
    ]
    assert files["00-shell-employees.json"] == {"realm": "employees", "enabled": True}
    master = files["90-master-config-client.json"]
    client = by(master["clients"], "clientId", CONFIG_CLIENT_ID)
    assert client["serviceAccountsEnabled"] is True
    assert client["standardFlowEnabled"] is False and client["directAccessGrantsEnabled"] is False
    assert client["secret"] == "$(env:OCIAM_CONFIG_CLIENT_SECRET)"
    (account,) = master["users"]
    assert account["serviceAccountClientId"] == CONFIG_CLIENT_ID
    assert "realmRoles" not in account  # no create-realm, no admin in master
    assert set(account["clientRoles"]) == {"employees-realm", "residents-realm"}
    for roles in account["clientRoles"].values():
        assert set(roles) == set(REALM_ADMIN_ROLES)
        assert not {"realm-admin", "impersonation", "manage-authorization"} & set(roles)


def test_realm_files_are_deterministic_and_name_only_known_placeholders() -> None:
    demo = city("dev", "demo")
    first, second = build_realms(demo), build_realms(demo)
    assert [f.text for f in first.realms] == [f.text for f in second.realms]
    for item in first.realms:
        assert placeholders_in(item.text) == {b.env for b in item.secrets}


def test_env_names_from_secret_refs() -> None:
    assert (
        env_name(SecretRef(pulumi_secret="ldapBindPassword")) == "OCIAM_SECRET_LDAP_BIND_PASSWORD"
    )
    assert env_name(SecretRef(pulumi_secret="x2Key")) == "OCIAM_SECRET_X2_KEY"


@pytest.mark.parametrize("config", CITIES, ids=ids)
def test_a_user_profile_is_only_rendered_with_the_attribute_that_applies_it(
    config: CityConfig,
) -> None:
    # keycloak-config-cli's UserProfileImportService.doImport skips `userProfile` unless the
    # realm attribute userProfileEnabled is set (../shared/notes/keycloak-config-cli.md)
    for name, realm in documents(config).items():
        if "userProfile" in realm:
            assert realm["attributes"].get("userProfileEnabled") == "true", name


@pytest.mark.parametrize("config", CITIES, ids=ids)
def test_every_placeholder_is_a_whole_json_string(config: CityConfig) -> None:
    # substitution_safe() escapes a value for a JSON string: no other context may exist
    realms = build_realms(config)
    for item in (*realms.realms, *realms.bootstrap):
        occurrences = item.text.count("$(")
        whole = len(re.findall(r'"\$\(env:[A-Z][A-Z0-9_]*\)"', item.text))
        assert occurrences == whole, item.filename


@pytest.mark.parametrize(
    "value",
    ["plain", 'quo"te', "back\\slash", "$(env:PATH)", "$$(x)", "tab\tand\nnewline", "ä€😀", "'"],
)
def test_substitution_safe_values_read_back_as_json_strings(value: str) -> None:
    encoded = substitution_safe(value)
    assert "$(" not in encoded.replace("$$(", "")
    # what the substitutor leaves after its escape handling, read as the JSON string it sits in
    assert json.loads('"' + encoded.replace("$$(", "$(") + '"') == value


def test_generated_config_client_secrets_need_no_escaping() -> None:
    # RandomPassword(special=False) draws from letters and digits: the same value is substituted
    # into the bootstrap file and sent as the apply Job's credential
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    assert substitution_safe(alphabet) == alphabet


@pytest.mark.parametrize("config", CITIES, ids=ids)
def test_no_component_config_value_is_empty(config: CityConfig) -> None:
    # Keycloak drops empty config values of components created through the admin API (as
    # keycloak-config-cli creates them), so an empty value is a difference on every run
    for name, realm in documents(config).items():
        for components in (realm.get("components") or {}).values():
            for component in components:
                subs = [s for group in component.get("subComponents", {}).values() for s in group]
                for item in [component, *subs]:
                    empty = [k for k, v in item.get("config", {}).items() if v in ([""], "")]
                    assert not empty, (name, item["name"], empty)
