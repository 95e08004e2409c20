"""The platform stack's own settings: ``stacks/platform/platform.yml`` (typed, strict).

Chart pins (one set for every environment: an environment is upgraded by
deploying its platform stack) and, per environment, what the environment's
``all.yml`` does not hold (the ACME account of its ClusterIssuer).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ociam.catalog.environment import EnvName

PLATFORM_FILE = Path("stacks") / "platform" / "platform.yml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ChartPin(_Strict):
    """One Helm chart at an exact version, from a repository or an OCI registry."""

    chart: str = Field(description="Chart name in `repository`, or an oci:// reference")
    repository: str | None = Field(default=None, pattern=r"^https://[^\s]+$")
    version: str = Field(pattern=r"^v?\d+\.\d+\.\d+$", description="Exact chart version")
    app_version: str = Field(description="The application version the chart installs")
    crds_version: str = Field(
        description="Release of the CRDs the chart installs, as named in the shared CRD "
        "directory's README (the schemas renders are validated against)"
    )

    @field_validator("chart")
    @classmethod
    def _located(cls, value: str) -> str:
        if value.startswith("oci://") or "/" not in value:
            return value
        raise ValueError("give a chart name (with repository) or an oci:// reference")

    @property
    def source(self) -> str:
        return self.chart if self.repository is None else f"{self.repository} {self.chart}"


class Charts(_Strict):
    cert_manager: ChartPin
    cloudnative_pg: ChartPin
    barman_cloud: ChartPin
    gateway_crds: ChartPin
    envoy_gateway: ChartPin


class Acme(_Strict):
    server: str = Field(pattern=r"^https://[^\s]+$")
    email: str = Field(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")


class PlatformEnvironment(_Strict):
    acme: Acme
    charts: Literal["install", "preinstalled"] = Field(
        default="install",
        description=(
            "install: the stack installs the pinned charts (cert-manager, CloudNativePG and "
            "its Barman Cloud plugin, the Gateway API and Envoy Gateway CRDs, Envoy "
            "Gateway); preinstalled: the cluster's operator provides them (a managed "
            "offering, GitOps) at the pinned versions, and the stack creates only its own "
            "objects (namespaces, ClusterIssuer, GatewayClass, Gateway, monitoring)"
        ),
    )


class PlatformFile(_Strict):
    charts: Charts
    environments: dict[EnvName, PlatformEnvironment]


def load_platform_file(root: Path) -> PlatformFile:
    """Read and check ``stacks/platform/platform.yml``; ValueError names file and field."""
    path = root / PLATFORM_FILE
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return PlatformFile.model_validate(data)
    except OSError as exc:
        raise ValueError(f"{path}: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not YAML: {exc}") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"{path}: {problems}") from exc
