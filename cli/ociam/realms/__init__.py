"""Realm configuration as data: typed builders of the realm JSON keycloak-config-cli applies.

``build_realms(city)`` returns the realm files of every realm a city enables
(employees, residents) and the bootstrap files of the least-privilege config
client. Secrets never appear in them: only ``$(env:NAME)`` placeholders, which
the in-cluster Job fills from Kubernetes Secrets. See docs/realms.md.
"""

from ociam.realms.build import CityRealms, RealmBuildError, RealmFile, build_realms
from ociam.realms.placeholders import SecretBinding

__all__ = ["CityRealms", "RealmBuildError", "RealmFile", "SecretBinding", "build_realms"]
