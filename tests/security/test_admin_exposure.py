"""The admin console is off the public internet: the public hostname's routes never
carry an admin path, and everything on the admin hostname is behind the city's
client-address allowlist (an Envoy Gateway SecurityPolicy, by default)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ociam.catalog import ENVIRONMENTS, EnvironmentCatalog
from ociam.components.exposure import ADMIN_ALLOWLIST_POLICY, ADMIN_ROUTE, PUBLIC_ROUTE
from ociam.render.service import RenderedCity, Validators
from tests.security.routes import normalize, reaching, routes_of
from tests.security.seed import all_stacks, objects_of

#: what Keycloak 26 serves for administration: the console, its resources (by resource
#: version, and its message bundles by realm) and the admin REST API, plus the master
#: realm (administrators only); spelled as a client may spell them
ADMIN_PATHS = (
    "/admin",
    "/admin/",
    "/admin/master/console/",
    "/admin/employees/console/#/employees/users",
    "/admin/realms/employees/users?max=10",
    "/admin/serverinfo",
    "/resources/ab12c/admin/keycloak.v2/assets/main-Dr4ca2.js",
    "/resources/ab12c/admin/keycloak.v2/favicon.svg",
    "/resources/master/admin/en",
    "/resources/employees/admin/fi",
    "/realms/master/protocol/openid-connect/auth",
    "/realms/master/",
    "//admin/master/console/",
    "/realms/employees/../../admin/master/console/",
    "/realms/employees/%2e%2e/%2E%2E/admin/realms",
    "/resources/ab12c/login/../admin/keycloak.v2/assets/main.js",
    "/resources/ab12c/login/..%2Fadmin/keycloak.v2/x.js",
    "/resources/ab12c%2Fadmin/keycloak.v2/x.js",
    "/.well-known/../admin/",
    "/%61dmin/master/console/",
    "/resources/ab12c/%61dmin/keycloak.v2/x.js",
)
#: what residents' and employees' browsers and applications need on the public hostname
PUBLIC_PATHS = (
    "/realms/{realm}/protocol/openid-connect/auth?client_id=x",
    "/realms/{realm}/protocol/openid-connect/token",
    "/realms/{realm}/.well-known/openid-configuration",
    "/realms/{realm}/login-actions/authenticate",
    "/realms/{realm}/broker/suomifi/endpoint",
    "/realms/{realm}/account/",
    "/resources/ab12c/login/keycloak.v2/css/styles.css",
    "/resources/ab12c/common/keycloak/vendor/patternfly-v5/patternfly.min.css",
    "/resources/ab12c/account/keycloak.v3/assets/main.js",
    "/resources/{realm}/account/fi",
    "/resources/{realm}/login/sv",
)


def _is_admin(path: str) -> bool:
    """Whether Keycloak would serve ``path`` (as routed, normalized) as administration."""
    segments = normalize(path).split("/")[1:]
    return (
        segments[:1] == ["admin"]
        or segments[:2] == ["realms", "master"]
        or (segments[:1] == ["resources"] and segments[2:3] == ["admin"])
    )


def test_the_sample_admin_paths_are_admin_paths() -> None:
    assert all(_is_admin(path) for path in ADMIN_PATHS)
    assert not any(_is_admin(path.format(realm="employees")) for path in PUBLIC_PATHS)


@pytest.mark.parametrize(("env", "city"), sorted(all_stacks()))
def test_the_public_hostname_never_routes_an_admin_path(
    env: str, city: str, city_renders: dict[tuple[str, str], RenderedCity]
) -> None:
    rendered = city_renders[(env, city)]
    routes = routes_of(rendered.objects)
    public = rendered.city.hostnames.public
    assert [r.name for r in routes if public in r.hostnames] == [PUBLIC_ROUTE]
    for path in ADMIN_PATHS:
        assert reaching(routes, public, path) == [], f"{public}{path} is routed"
    for realm in rendered.city.spec.realms.enabled():
        for path in PUBLIC_PATHS:
            url = path.format(realm=realm)
            assert reaching(routes, public, url) == [PUBLIC_ROUTE], f"{public}{url} is not routed"


@settings(max_examples=300, deadline=None, derandomize=True)
@given(
    st.lists(
        st.sampled_from(
            [
                "admin",
                "%61dmin",
                "resources",
                "realms",
                "master",
                "employees",
                "residents",
                "login",
                "account",
                "common",
                "ab12c",
                "..",
                ".",
                "%2e%2e",
                "",
                "%2F",
                ".well-known",
                "x",
            ]
        ),
        min_size=1,
        max_size=7,
    )
)
def test_no_path_the_public_route_carries_is_an_admin_path(
    city_renders: dict[tuple[str, str], RenderedCity], segments: list[str]
) -> None:
    rendered = city_renders[("dev", "demo")]
    path = "/" + "/".join(segments)
    if reaching(routes_of(rendered.objects), rendered.city.hostnames.public, path):
        assert not _is_admin(path), path


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_on_envoy_gateway_the_city_stack_enforces_the_allowlist(
    env: str, catalogs: dict[str, EnvironmentCatalog]
) -> None:
    gateway = catalogs[env].settings.gateway
    if gateway.implementation != "envoy-gateway":
        return
    assert gateway.city_enforces_admin_allowlist, (
        f"{env}: gateway.admin_allowlist_policy is false in inventories/{env}/group_vars/"
        "all.yml, so the city stacks do not enforce the admin allowlist and the admin "
        "consoles are open to the internet unless the platform gateway enforces it; remove "
        "the setting (the default on envoy-gateway: the city stack enforces it)"
    )


@pytest.mark.parametrize(("env", "city"), sorted(all_stacks()))
def test_everything_on_the_admin_hostname_is_behind_the_allowlist(
    env: str, city: str, city_renders: dict[tuple[str, str], RenderedCity]
) -> None:
    rendered = city_renders[(env, city)]
    if not rendered.city.settings.gateway.city_enforces_admin_allowlist:
        # the platform gateway enforces it: the city renders no policy of its own
        assert objects_of(rendered.objects, "SecurityPolicy") == []
        return
    admin = rendered.city.hostnames.admin
    policies = objects_of(rendered.objects, "SecurityPolicy")
    assert [p["metadata"]["name"] for p in policies] == [ADMIN_ALLOWLIST_POLICY]
    spec = policies[0]["spec"]
    covered = {t["name"] for t in spec["targetRefs"] if t["kind"] == "HTTPRoute"}
    on_admin_host = [r for r in routes_of(rendered.objects) if admin in r.hostnames]
    assert [r.name for r in on_admin_host] == [ADMIN_ROUTE]
    assert {r.name for r in on_admin_host} <= covered
    authorization = spec["authorization"]
    assert authorization["defaultAction"] == "Deny"
    assert [rule["action"] for rule in authorization["rules"]] == ["Allow"]
    allowed = authorization["rules"][0]["principal"]
    assert allowed == {"clientCIDRs": [str(c) for c in rendered.city.spec.admin_allowlist]}
    # every admin path reaches the admin hostname through the covered route only
    for path in ADMIN_PATHS:
        assert reaching(on_admin_host, admin, path) in ([ADMIN_ROUTE], []), path
    assert reaching(on_admin_host, admin, "/admin/master/console/") == [ADMIN_ROUTE]


def test_the_allowlist_policies_validate_against_envoy_gateways_crd(
    city_renders: dict[tuple[str, str], RenderedCity], crd_dir: Path
) -> None:
    assert (crd_dir / "gateway.envoyproxy.io_securitypolicies.yaml").is_file()
    validators = Validators(crd_dir)
    problems = [
        f"{env}/{city}: {p}"
        for (env, city), rendered in city_renders.items()
        for p in validators.validate(rendered)
        if p.object.startswith(("SecurityPolicy", "HTTPRoute"))
    ]
    assert problems == []
