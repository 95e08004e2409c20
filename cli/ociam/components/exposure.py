"""Exposure through Gateway API: TLS certificate, listeners and the two HTTPRoutes.

The public hostname routes only what users' browsers and applications need
(``/realms/<enabled realm>/``, ``/resources/``, ``/.well-known/``); the master
realm and the admin console and API are routed only on the admin hostname.
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


def public_paths(city: CityContext) -> list[str]:
    """Paths routed on the public hostname: each enabled realm, static resources and
    well-known documents. Never ``/admin/`` and never the master realm."""
    realms = [f"/realms/{realm}/" for realm in city.config.spec.realms.enabled()]
    return [*realms, "/resources/", "/.well-known/"]


def _rules(paths: list[str] | tuple[str, ...], backend: KeycloakEndpoints) -> list[Any]:
    return [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": path}} for path in paths],
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
    the public and admin ``HTTPRoute``s, and, where the implementation offers one and the
    environment opts in, a client-address policy for the admin route."""

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
            parents = {"public": shared, "admin": shared}

        for route, section, host, paths in (
            (PUBLIC_ROUTE, "public", hosts.public, public_paths(city)),
            (ADMIN_ROUTE, "admin", hosts.admin, list(ADMIN_PATHS)),
        ):
            custom_resource(
                child_name(name, f"{section}-route"),
                api_version=f"{GATEWAY_GROUP}/v1",
                kind="HTTPRoute",
                metadata=city.metadata(route, "keycloak", "gateway"),
                spec={
                    "parentRefs": parents[section],
                    "hostnames": [host],
                    "rules": _rules(paths, keycloak),
                },
                opts=child,
            )
        if gateway.admin_allowlist_policy:
            custom_resource(
                child_name(name, "admin-allowlist"),
                api_version="gateway.envoyproxy.io/v1alpha1",
                kind="SecurityPolicy",
                metadata=city.metadata("keycloak-admin-allowlist", "keycloak", "gateway"),
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
