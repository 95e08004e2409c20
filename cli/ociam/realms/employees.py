"""The employees realm: AD through the connector hub, optional Entra ID, MFA on passwords."""

from __future__ import annotations

from typing import Any

from ociam.catalog.city import EmployeesRealm, EntraIdBroker, LdapFederation
from ociam.catalog.resolved import CityConfig
from ociam.realms.flows import Flow, FlowSet, Step, create_account_steps, sub
from ociam.realms.placeholders import SecretBinding

JsonObject = dict[str, Any]

REALM = "employees"
LDAP_COMPONENT = "active-directory"
ENTRA_ALIAS = "entra-id"
BROWSER_FLOW = "employees browser"
FIRST_BROKER_FLOW = "employees first broker login"
LDAP_MAPPER_TYPE = "org.keycloak.storage.ldap.mappers.LDAPStorageMapper"
USER_STORAGE_TYPE = "org.keycloak.storage.UserStorageProvider"
#: Keycloak's group retrieval strategy per catalog ``ldap.group_membership``: AD's
#: LDAP_MATCHING_RULE_IN_CHAIN (nested memberships in one query), or the user's memberOf
GROUP_STRATEGIES = {
    "nested": "LOAD_GROUPS_BY_MEMBER_ATTRIBUTE_RECURSIVELY",
    "member_of": "GET_GROUPS_FROM_USER_MEMBEROF_ATTRIBUTE",
}


def _config(values: dict[str, str]) -> dict[str, list[str]]:
    """Component config is a map of string lists in realm JSON."""
    return {key: [value] for key, value in sorted(values.items())}


def _attribute_mapper(name: str, ldap_attribute: str, user_attribute: str) -> JsonObject:
    return {
        "name": name,
        "providerId": "user-attribute-ldap-mapper",
        "subComponents": {},
        "config": _config(
            {
                "ldap.attribute": ldap_attribute,
                "user.model.attribute": user_attribute,
                "read.only": "true",
                "always.read.value.from.ldap": "false",
                "is.mandatory.in.ldap": "true" if user_attribute == "username" else "false",
                "is.binary.attribute": "false",
            }
        ),
    }


def ldap_component(url: str, ldap: LdapFederation, bind: SecretBinding) -> JsonObject:
    """Keycloak's LDAP provider for the city's AD: read-only, imported, synced periodically.

    Names match the mappers Keycloak creates by itself for a new AD provider, so
    the import updates those instead of adding twins.
    """
    config = {
        "enabled": "true",
        "priority": "0",
        "vendor": "ad",
        "connectionUrl": url,
        "startTls": "false",
        "useTruststoreSpi": "always",
        "connectionPooling": "true",
        "connectionTimeout": "10000",
        "readTimeout": "30000",
        "authType": "simple",
        "bindDn": ldap.bind_dn,
        "bindCredential": bind.placeholder,
        "usersDn": ldap.users_dn,
        "searchScope": "2",
        "userObjectClasses": "person, organizationalPerson, user",
        "usernameLDAPAttribute": "sAMAccountName",
        "rdnLDAPAttribute": "cn",
        "uuidLDAPAttribute": "objectGUID",
        "krbPrincipalAttribute": "userPrincipalName",
        "editMode": "READ_ONLY",
        "importEnabled": "true",
        "syncRegistrations": "false",
        "trustEmail": "true",
        "pagination": "true",
        "batchSizeForSync": "1000",
        "fullSyncPeriod": str(ldap.sync.full_sync_period_seconds),
        "changedSyncPeriod": str(ldap.sync.changed_sync_period_seconds),
        "cachePolicy": "DEFAULT",
        "allowKerberosAuthentication": "false",
        "useKerberosForPasswordAuthentication": "false",
        "validatePasswordPolicy": "false",
        "connectionTrace": "false",
    }
    if ldap.user_filter is not None:
        config["customUserSearchFilter"] = ldap.user_filter
    mappers: list[JsonObject] = [
        _attribute_mapper("username", "sAMAccountName", "username"),
        _attribute_mapper("first name", "givenName", "firstName"),
        _attribute_mapper("last name", "sn", "lastName"),
        _attribute_mapper("email", "mail", "email"),
        {
            "name": "MSAD account controls",
            "providerId": "msad-user-account-control-mapper",
            "subComponents": {},
            "config": _config({"ldap.password.policy.hints.enabled": "false"}),
        },
        # the rest of what Keycloak creates by itself for a new read-only AD provider
        # (LDAPStorageProviderFactory.onCreate), named so that the import updates them
        # instead of leaving them beside ours (keycloak-config-cli deletes only what it made)
        _attribute_mapper("creation date", "whenCreated", "createTimestamp"),
        _attribute_mapper("modify date", "whenChanged", "modifyTimestamp"),
        {
            "name": "Kerberos principal attribute mapper",
            "providerId": "kerberos-principal-attribute-mapper",
            "subComponents": {},
            "config": {},
        },
        # Keycloak's own "full name" mapper splits cn at its first space into first and last
        # name, over the givenName/sn mappers above; cn is "Surname Given" in the cities' AD,
        # so the names would come out swapped. Same name, harmless job: the display name.
        _attribute_mapper("full name", "displayName", "displayName"),
    ]
    if ldap.groups_dn is not None:
        mappers.append(
            {
                "name": "groups",
                "providerId": "group-ldap-mapper",
                "subComponents": {},
                "config": _config(
                    {
                        "groups.dn": ldap.groups_dn,
                        "group.name.ldap.attribute": "cn",
                        "group.object.classes": "group",
                        # AD groups may sit in several parents: a tree would fail the sync
                        "preserve.group.inheritance": "false",
                        "ignore.missing.groups": "true",
                        "membership.ldap.attribute": "member",
                        "membership.attribute.type": "DN",
                        "membership.user.ldap.attribute": "sAMAccountName",
                        "memberof.ldap.attribute": "memberOf",
                        "mode": "READ_ONLY",
                        "user.roles.retrieve.strategy": GROUP_STRATEGIES[ldap.group_membership],
                        # a group missing from one sync is never deleted from Keycloak here
                        "drop.non.existing.groups.during.sync": "false",
                        "groups.path": "/",
                    }
                ),
            }
        )
    return {
        "name": LDAP_COMPONENT,
        "providerId": "ldap",
        "subComponents": {LDAP_MAPPER_TYPE: mappers},
        "config": _config(config),
    }


def entra_provider(entra: EntraIdBroker, secret: SecretBinding, *, with_ldap: bool) -> JsonObject:
    """Entra ID as a plain OIDC broker pinned to the city's tenant (v2.0 endpoints)."""
    base = f"https://login.microsoftonline.com/{entra.tenant_id}"
    return {
        "alias": ENTRA_ALIAS,
        "displayName": entra.display_name,
        "providerId": "oidc",
        "enabled": True,
        # the city's own tenant vouches for its addresses; AD accounts are matched by them
        "trustEmail": True,
        "storeToken": False,
        "addReadTokenRoleOnCreate": False,
        "linkOnly": False,
        "hideOnLogin": False,
        "firstBrokerLoginFlowAlias": FIRST_BROKER_FLOW,
        "config": {
            "issuer": f"{base}/v2.0",
            "authorizationUrl": f"{base}/oauth2/v2.0/authorize",
            "tokenUrl": f"{base}/oauth2/v2.0/token",
            "logoutUrl": f"{base}/oauth2/v2.0/logout",
            "jwksUrl": f"{base}/discovery/v2.0/keys",
            "useJwksUrl": "true",
            "validateSignature": "true",
            "clientId": str(entra.client_id),
            "clientSecret": secret.placeholder,
            "clientAuthMethod": "client_secret_post",
            "defaultScope": "openid profile email",
            "pkceEnabled": "true",
            "pkceMethod": "S256",
            # Entra's userinfo wants a Graph token; the ID token carries the claims
            "disableUserInfo": "true",
            "backchannelSupported": "false",
            "acceptsPromptNoneForwardFromClient": "false",
            # LDAP users are read-only: never write broker claims onto them
            "syncMode": "IMPORT" if with_ldap else "FORCE",
        },
    }


def entra_mappers() -> list[JsonObject]:
    """Claims copied onto users the broker creates (only without LDAP)."""
    return [
        {
            "name": f"{claim} to {attribute}",
            "identityProviderAlias": ENTRA_ALIAS,
            "identityProviderMapper": "oidc-user-attribute-idp-mapper",
            "config": {"claim": claim, "user.attribute": attribute, "syncMode": "INHERIT"},
        }
        for claim, attribute in (
            ("email", "email"),
            ("given_name", "firstName"),
            ("family_name", "lastName"),
        )
    ]


def employee_flows(spec: EmployeesRealm, *, with_ldap: bool) -> FlowSet:
    """Password logins need a second factor; Entra ID logins rely on the tenant's MFA."""
    second_factor = "auth-otp-form" if spec.mfa == "otp" else "webauthn-authenticator"
    flows = FlowSet()
    flows.add(
        Flow(
            alias=BROWSER_FLOW,
            description="Cookie, identity provider hint, or password plus "
            f"{'one-time code' if spec.mfa == 'otp' else 'security key'}",
            steps=(
                Step("ALTERNATIVE", authenticator="auth-cookie"),
                Step("ALTERNATIVE", authenticator="identity-provider-redirector"),
                Step(
                    "ALTERNATIVE",
                    flow=sub(
                        "employees password and second factor",
                        "Password, then the second factor (set up on first login)",
                        Step("REQUIRED", authenticator="auth-username-password-form"),
                        Step("REQUIRED", authenticator=second_factor),
                    ),
                ),
            ),
        )
    )
    if spec.entra_id is not None:
        if with_ldap:
            steps: tuple[Step, ...] = (
                # Entra ID never creates accounts: it links to the AD account synced over
                # LDAP with the same username or e-mail, or the login fails
                Step("REQUIRED", authenticator="idp-detect-existing-broker-user"),
                Step("REQUIRED", authenticator="idp-auto-link"),
            )
        else:
            steps = create_account_steps(REALM)
        flows.add(
            Flow(
                alias=FIRST_BROKER_FLOW,
                description="First Entra ID login of an employee",
                steps=steps,
            )
        )
    return flows


def required_actions(spec: EmployeesRealm) -> list[JsonObject]:
    totp = spec.mfa == "otp"
    return [
        {
            "alias": "CONFIGURE_TOTP",
            "name": "Configure OTP",
            "providerId": "CONFIGURE_TOTP",
            "enabled": totp,
            "defaultAction": False,
            "priority": 10,
            "config": {},
        },
        {
            "alias": "webauthn-register",
            "name": "Webauthn Register",
            "providerId": "webauthn-register",
            "enabled": not totp,
            "defaultAction": False,
            "priority": 70,
            "config": {},
        },
    ]


def mfa_policy(city: CityConfig) -> JsonObject:
    return {
        "otpPolicyType": "totp",
        "otpPolicyAlgorithm": "HmacSHA1",
        "otpPolicyDigits": 6,
        "otpPolicyPeriod": 30,
        "otpPolicyLookAheadWindow": 1,
        "otpPolicyCodeReusable": False,
        "webAuthnPolicyRpEntityName": city.spec.city.names.fi,
        "webAuthnPolicySignatureAlgorithms": ["ES256", "RS256"],
        "webAuthnPolicyAttestationConveyancePreference": "not specified",
        "webAuthnPolicyAuthenticatorAttachment": "not specified",
        "webAuthnPolicyRequireResidentKey": "not specified",
        "webAuthnPolicyUserVerificationRequirement": "required",
        "webAuthnPolicyAvoidSameAuthenticatorRegister": True,
    }
