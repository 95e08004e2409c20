"""Security defaults every realm gets, whatever the catalog says."""

from __future__ import annotations

from typing import Any

from ociam.catalog.city import RealmLifetimes

JsonObject = dict[str, Any]

SUPPORTED_LOCALES = ("fi", "sv", "en")
DEFAULT_LOCALE = "fi"

#: used only where users keep a Keycloak password (no LDAP, no broker)
PASSWORD_POLICY = (
    "length(12) and maxLength(128) and passwordHistory(5) and notUsername(undefined) "
    "and notEmail(undefined)"
)

#: Keycloak's per-realm response headers (BrowserSecurityHeaders); HSTS is set by Keycloak
#: itself only when configured here. No X-XSS-Protection: browsers removed the auditor.
BROWSER_SECURITY_HEADERS: dict[str, str] = {
    "contentSecurityPolicy": "frame-src 'self'; frame-ancestors 'self'; object-src 'none';",
    "contentSecurityPolicyReportOnly": "",
    "xContentTypeOptions": "nosniff",
    "xRobotsTag": "none",
    "xFrameOptions": "SAMEORIGIN",
    "strictTransportSecurity": "max-age=31536000; includeSubDomains",
    "referrerPolicy": "no-referrer",
}

#: brute-force detection: temporary lockouts growing per failure, never permanent
#: (a permanent lockout is a denial of service anyone can trigger)
BRUTE_FORCE: JsonObject = {
    "bruteForceProtected": True,
    "permanentLockout": False,
    "bruteForceStrategy": "MULTIPLE",
    "failureFactor": 5,
    "waitIncrementSeconds": 60,
    "maxFailureWaitSeconds": 900,
    "maxDeltaTimeSeconds": 43200,
    "minimumQuickLoginWaitSeconds": 60,
    "quickLoginCheckMilliSeconds": 1000,
}

DAY = 86400


def base_realm(
    name: str,
    display_name: str,
    lifetimes: RealmLifetimes,
    *,
    reset_password: bool,
    local_passwords: bool,
) -> JsonObject:
    """The realm's top-level settings: the same secure baseline for every realm.

    ``local_passwords`` is true only where users hold a Keycloak password; realms
    whose users come from LDAP or brokers get no password policy (it would not
    apply to them and suggests a control that is not there).
    """
    events_seconds = lifetimes.events_retention_days * DAY
    realm: JsonObject = {
        "realm": name,
        "enabled": True,
        "displayName": display_name,
        "sslRequired": "external",
        "registrationAllowed": False,
        "registrationEmailAsUsername": False,
        "resetPasswordAllowed": reset_password,
        "rememberMe": False,
        "verifyEmail": False,
        "loginWithEmailAllowed": True,
        "duplicateEmailsAllowed": False,
        "editUsernameAllowed": False,
        "userManagedAccessAllowed": False,
        **BRUTE_FORCE,
        "eventsEnabled": True,
        "eventsExpiration": events_seconds,
        "eventsListeners": ["jboss-logging"],
        "adminEventsEnabled": True,
        # representations in admin events may carry client secrets: keep them out
        "adminEventsDetailsEnabled": False,
        "internationalizationEnabled": True,
        "supportedLocales": list(SUPPORTED_LOCALES),
        "defaultLocale": DEFAULT_LOCALE,
        "accessTokenLifespan": lifetimes.access_token_minutes * 60,
        "accessTokenLifespanForImplicitFlow": lifetimes.access_token_minutes * 60,
        "accessCodeLifespan": 60,
        "accessCodeLifespanLogin": 1800,
        "accessCodeLifespanUserAction": 300,
        "actionTokenGeneratedByUserLifespan": 300,
        "actionTokenGeneratedByAdminLifespan": 43200,
        "ssoSessionIdleTimeout": lifetimes.sso_session_idle_minutes * 60,
        "ssoSessionMaxLifespan": lifetimes.sso_session_max_hours * 3600,
        "offlineSessionIdleTimeout": min(lifetimes.offline_session_max_days, 30) * DAY,
        "offlineSessionMaxLifespanEnabled": True,
        "offlineSessionMaxLifespan": lifetimes.offline_session_max_days * DAY,
        "revokeRefreshToken": True,
        "refreshTokenMaxReuse": 0,
        "oauth2DeviceCodeLifespan": 600,
        "browserSecurityHeaders": dict(BROWSER_SECURITY_HEADERS),
        "attributes": {
            "adminEventsExpiration": str(events_seconds),
        },
    }
    if local_passwords:
        realm["passwordPolicy"] = PASSWORD_POLICY
    return realm
