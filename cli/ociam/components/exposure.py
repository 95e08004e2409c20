"""Exposure through Gateway API: TLS certificate, listeners and the two HTTPRoutes.

The public hostname routes only what users' browsers and applications need
(``/realms/<enabled realm>/``, the login, account and common theme resources,
``/.well-known/``); the master realm, the admin console, its resources
(``/resources/<version or realm>/admin/...``) and the admin API are routed only on
the admin hostname, whose route the city's client-address policy covers by default
on envoy-gateway (``gateway.admin_allowlist_policy``).
"""

from __future__ import annotations

from typing import Any

import pulumi

from ociam.components.base import CityContext, child_name, custom_resource
from ociam.components.keycloak import KeycloakEndpoints

GATEWAY_GROUP = "gateway.networking.k8s.io"
TLS_SECRET = "keycloak-tls"
LISTENER_SET = "keycloak"
PUBLIC_ROUTE = "keycloak-public"
ADMIN_ROUTE = "keycloak-admin"
#: what the admin hostname serves: the console, the admin API, every realm's login
#: (realm admins log in through their own realm) and static resources
ADMIN_PATHS = ("/admin/", "/realms/", "/resources/")
ADMIN_ALLOWLIST_POLICY = "keycloak-admin-allowlist"
#: Keycloak 26 serves theme resources at ``/resources/<version>/<type>/<theme>/...`` and
#: their message bundles at ``/resources/<realm>/<type>/<locale>``; the public hostname
#: needs the login, account and common types, never ``admin`` (the admin console's).
#: Anchored, so that full-match (Envoy's safe_regex) and search semantics agree.
PUBLIC_RESOURCE_TYPES = ("login", "account", "common")
PUBLIC_RESOURCES_REGEX = r"^/resources/[^/]+/(" + "|".join(PUBLIC_RESOURCE_TYPES) + r")/[^?#]*$"


def public_paths(city: CityContext) -> list[str]:
    """Path prefixes routed on the public hostname: each enabled realm and well-known
    documents. Never ``/admin/`` and never the master realm; theme resources are
    matched by ``PUBLIC_RESOURCES_REGEX``."""
    realms = [f"/realms/{realm}/" for realm in city.config.spec.realms.enabled()]
    return [*realms, "/.well-known/"]


def path_matches(prefixes: list[str] | tuple[str, ...], regexes: tuple[str, ...] = ()) -> list[Any]:
    """HTTPRoute matches: each prefix (PathPrefix), then each regular expression."""
    return [{"path": {"type": "PathPrefix", "value": path}} for path in prefixes] + [
        {"path": {"type": "RegularExpression", "value": regex}} for regex in regexes
    ]


def _rules(matches: list[Any], backend: KeycloakEndpoints) -> list[Any]:
    return [
        {
            "matches": matches,
            "backendRefs": [
                {
                    "group": "",
                    "kind": "Service",
                    "name": backend.http_service,
                    "port": backend.http_port,
                }
            ],
        }
    ]


def _listener(name: str, hostname: str) -> dict[str, Any]:
    return {
        "name": name,
        "hostname": hostname,
        "port": 443,
        "protocol": "HTTPS",
        "tls": {
            "mode": "Terminate",
            "certificateRefs": [{"group": "", "kind": "Secret", "name": TLS_SECRET}],
        },
        "allowedRoutes": {
            "namespaces": {"from": "Same"},
            "kinds": [{"group": GATEWAY_GROUP, "kind": "HTTPRoute"}],
        },
    }


class Exposure(pulumi.ComponentResource):
    """cert-manager ``Certificate`` for both hostnames, a ``ListenerSet`` on the platform
    Gateway (or a ``ReferenceGrant`` letting the platform's listener use the certificate),
    the public and admin ``HTTPRoute``s, and, by default on envoy-gateway, the
    client-address policy (``SecurityPolicy``) that admits only the city's
    ``admin_allowlist`` to the admin route."""

    def __init__(
        self,
        name: str,
        city: CityContext,
        keycloak: KeycloakEndpoints,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("ociam:exposure:Exposure", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        settings = city.config.settings
        gateway = settings.gateway
        hosts = city.config.hostnames
        custom_resource(
            child_name(name, "certificate"),
            api_version="cert-manager.io/v1",
            kind="Certificate",
            metadata=city.metadata(TLS_SECRET, "keycloak", "tls"),
            spec={
                "secretName": TLS_SECRET,
                "dnsNames": [hosts.public, hosts.admin],
                "issuerRef": {
                    "group": "cert-manager.io",
                    "kind": settings.tls.issuer_kind,
                    "name": settings.tls.issuer_name,
                },
                "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
                "secretTemplate": {"labels": city.labels("keycloak", "tls")},
            },
            opts=child,
        )
        if gateway.listener_mode == "listenerset":
            custom_resource(
                child_name(name, "listenerset"),
                api_version=f"{GATEWAY_GROUP}/v1",
                kind="ListenerSet",
                metadata=city.metadata(LISTENER_SET, "keycloak", "gateway"),
                spec={
                    "parentRef": {
                        "group": GATEWAY_GROUP,
                        "kind": "Gateway",
                        "name": gateway.name,
                        "namespace": gateway.namespace,
                    },
                    "listeners": [
                        _listener("public", hosts.public),
                        _listener("admin", hosts.admin),
                    ],
                },
                opts=child,
            )
            parents: dict[str, list[dict[str, Any]]] = {
                section: [
                    {
                        "group": GATEWAY_GROUP,
                        "kind": "ListenerSet",
                        "name": LISTENER_SET,
                        "sectionName": section,
                    }
                ]
                for section in ("public", "admin")
            }
        else:
            # the platform Gateway has a listener per city hostname and reads the
            # certificate Secret here: grant exactly that reference
            custom_resource(
                child_name(name, "reference-grant"),
                api_version=f"{GATEWAY_GROUP}/v1beta1",
                kind="ReferenceGrant",
                metadata=city.metadata("gateway-reads-tls", "keycloak", "gateway"),
                spec={
                    "from": [
                        {"group": GATEWAY_GROUP, "kind": "Gateway", "namespace": gateway.namespace}
                    ],
                    "to": [{"group": "", "kind": "Secret", "name": TLS_SECRET}],
                },
                opts=child,
            )
            shared = [
                {
                    "group": GATEWAY_GROUP,
                    "kind": "Gateway",
                    "name": gateway.name,
                    "namespace": gateway.namespace,
                }
            ]
            # the platform names each city's listeners <slug>-public and <slug>-admin; a
            # parentRef without sectionName would also attach to its plain-HTTP listener
            parents = {
                section: [{**shared[0], "sectionName": f"{city.config.slug}-{section}"}]
                for section in ("public", "admin")
            }

        for route, section, host, matches in (
            (
                PUBLIC_ROUTE,
                "public",
                hosts.public,
                path_matches(public_paths(city), (PUBLIC_RESOURCES_REGEX,)),
            ),
            (ADMIN_ROUTE, "admin", hosts.admin, path_matches(ADMIN_PATHS)),
        ):
            custom_resource(
                child_name(name, f"{section}-route"),
                api_version=f"{GATEWAY_GROUP}/v1",
                kind="HTTPRoute",
                metadata=city.metadata(route, "keycloak", "gateway"),
                spec={
                    "parentRefs": parents[section],
                    "hostnames": [host],
                    "rules": _rules(matches, keycloak),
                },
                opts=child,
            )
        if gateway.city_enforces_admin_allowlist:
            custom_resource(
                child_name(name, "admin-allowlist"),
                api_version="gateway.envoyproxy.io/v1alpha1",
                kind="SecurityPolicy",
                metadata=city.metadata(ADMIN_ALLOWLIST_POLICY, "keycloak", "gateway"),
                spec={
                    "targetRefs": [
                        {"group": GATEWAY_GROUP, "kind": "HTTPRoute", "name": ADMIN_ROUTE}
                    ],
                    "authorization": {
                        "defaultAction": "Deny",
                        "rules": [
                            {
                                "name": "admin-allowlist",
                                "action": "Allow",
                                "principal": {
                                    "clientCIDRs": [
                                        str(c) for c in city.config.spec.admin_allowlist
                                    ]
                                },
                            }
                        ],
                    },
                },
                opts=child,
            )
        self.register_outputs(
            {
                "public_hostname": hosts.public,
                "admin_hostname": hosts.admin,
                "tls_secret": TLS_SECRET,
            }
        )
