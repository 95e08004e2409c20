"""Engines that run the Pulumi programs: offline (mocks) here, the real one in issue 7."""

from ociam.engines.base import (
    SECRET_PLACEHOLDER,
    Artifact,
    DeployEngine,
    Engine,
    EngineError,
    PreviewResult,
    ResourceStep,
    SecretLeakError,
    StackRef,
)

__all__ = [
    "SECRET_PLACEHOLDER",
    "Artifact",
    "DeployEngine",
    "Engine",
    "EngineError",
    "PreviewResult",
    "ResourceStep",
    "SecretLeakError",
    "StackRef",
]
