"""Catalog fields the city stack added: strict, defaulted, explained."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from ociam.catalog.environment import GatewayRef, ObjectStore
from ociam.profiles import PROFILES, profile

STORE: dict[str, Any] = {
    "destination_path": "s3://bucket/",
    "credentials_secret": "pg-backup-s3",
}
GATEWAY: dict[str, Any] = {
    "name": "shared",
    "namespace": "gateway-system",
    "implementation": "envoy-gateway",
    "source_cidrs": ["10.244.0.0/16"],
}


def test_backup_credentials_are_both_or_neither() -> None:
    assert ObjectStore.model_validate(STORE).access_key_id is None
    both = ObjectStore.model_validate(
        {
            **STORE,
            "access_key_id": {"pulumi_secret": "a"},
            "secret_access_key": {"pulumi_secret": "b"},
        }
    )
    assert both.secret_access_key is not None
    with pytest.raises(ValidationError, match="set both access_key_id and secret_access_key"):
        ObjectStore.model_validate({**STORE, "access_key_id": {"pulumi_secret": "a"}})
    with pytest.raises(ValidationError, match="secrets never live in the catalog in clear"):
        ObjectStore.model_validate({**STORE, "access_key_id": "AKIA123", "secret_access_key": "x"})


def test_admin_allowlist_policy_only_where_implemented() -> None:
    assert GatewayRef.model_validate({**GATEWAY, "admin_allowlist_policy": True})
    with pytest.raises(ValidationError, match="implemented for envoy-gateway only"):
        GatewayRef.model_validate(
            {**GATEWAY, "implementation": "istio", "admin_allowlist_policy": True}
        )
    gateway = GatewayRef.model_validate(GATEWAY)
    # by default the city stack enforces the allowlist on envoy-gateway, the platform
    # gateway on the others; false leaves it to the platform gateway on envoy-gateway too
    assert gateway.city_enforces_admin_allowlist
    istio = GatewayRef.model_validate({**GATEWAY, "implementation": "istio"})
    assert not istio.city_enforces_admin_allowlist
    off = GatewayRef.model_validate({**GATEWAY, "admin_allowlist_policy": False})
    assert not off.city_enforces_admin_allowlist
    assert gateway.proxy_namespace == "gateway-system"
    assert (
        GatewayRef.model_validate({**GATEWAY, "data_plane_namespace": "eg"}).proxy_namespace == "eg"
    )


def test_profiles_are_known_by_name() -> None:
    assert profile("ha") is PROFILES["ha"]
    with pytest.raises(ValueError, match="unknown size profile 'huge'"):
        profile("huge")
