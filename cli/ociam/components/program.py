"""The city program: what ``stacks/city/__main__.py`` runs, under either engine.

The stack name is ``<env>-<city>``; everything else comes from the catalog.
Secret references of the catalog are read from the stack's Pulumi secret
config (``pulumi config set --secret ociam:<key>``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pulumi

from ociam.catalog import CityConfig, EnvironmentCatalog, load_environment
from ociam.components.city import City
from ociam.engines.base import StackRef

#: config key overriding where the checkout is (the offline engine sets it)
ROOT_CONFIG_KEY = "root"

_CACHE: dict[tuple[Path, str], tuple[tuple[tuple[str, int, int], ...], EnvironmentCatalog]] = {}


def _fingerprint(root: Path, env: str) -> tuple[tuple[str, int, int], ...]:
    directory = root / "inventories" / env
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)


def load_city(root: Path, stack: StackRef) -> CityConfig:
    """The stack's city from the catalog, loaded once per process while files are unchanged."""
    key = (root, stack.env)
    fingerprint = _fingerprint(root, stack.env)
    cached = _CACHE.get(key)
    if cached is None or cached[0] != fingerprint:
        cached = (fingerprint, load_environment(root, stack.env))
        _CACHE[key] = cached
    return cached[1].city(stack.city)


def main(project_root: Path) -> City:
    """Build the city stack named by ``pulumi.get_stack()``."""
    stack = StackRef.parse(pulumi.get_stack())
    config = pulumi.Config("ociam")
    root = Path(config.get(ROOT_CONFIG_KEY) or os.environ.get("OCIAM_ROOT") or project_root)
    city = load_city(root.resolve(), stack)
    secrets = {key: config.require_secret(key) for key in city.secret_keys}
    built = City("city", city, secrets)
    names = built.secrets.names
    pulumi.export("namespace", city.namespace)
    pulumi.export("public_url", f"https://{city.hostnames.public}")
    pulumi.export("admin_url", f"https://{city.hostnames.admin}")
    pulumi.export("keycloak_service", built.keycloak.endpoints.http_service)
    pulumi.export("bootstrap_secret", names.bootstrap)
    pulumi.export("realm_secret", built.realm_config.env_secret_name)
    return built
