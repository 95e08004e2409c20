"""The city catalog: typed model, loader and checks of ``inventories/<env>/``.

One file per city (``group_vars/<city>.yml``) is read natively by Ansible and,
through this package, by the Pulumi programs and the CLI.
"""

from ociam.catalog.city import CityFile
from ociam.catalog.environment import ENVIRONMENTS, EnvironmentSettings, EnvName
from ociam.catalog.errors import CatalogError, Problem, Severity
from ociam.catalog.loader import EnvironmentCatalog, load_environment
from ociam.catalog.resolved import CityConfig

__all__ = [
    "ENVIRONMENTS",
    "CatalogError",
    "CityConfig",
    "CityFile",
    "EnvName",
    "EnvironmentCatalog",
    "EnvironmentSettings",
    "Problem",
    "Severity",
    "load_environment",
]
