"""The engine interface: what every engine (offline mocks, real Pulumi) answers.

A *stack* is one (environment, city) pair, named ``<env>-<city>`` like the
Pulumi stack. An engine previews a stack and reports every resource step; the
offline engine also returns the resources' inputs (secrets already replaced by
``<secret>``) and the artifacts the program published, which ``ociam render``
writes next to the manifests.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

#: what a secret value is replaced by in every result, render and log
SECRET_PLACEHOLDER = "<secret>"

StepOp = Literal["create", "update", "delete", "replace", "same", "read"]
#: the Pulumi projects of the checkout: ``stacks/city`` and ``stacks/platform``
StackProject = Literal["city", "platform"]
PLATFORM_PREFIX = "platform/"


@dataclass(frozen=True, order=True)
class StackRef:
    """One stack: a city stack ``<env>-<city>`` (project ``city``), or an environment's
    platform stack (project ``platform``, Pulumi stack name ``<env>``, shown as
    ``platform/<env>``)."""

    env: str
    city: str = ""
    project: StackProject = "city"

    def __post_init__(self) -> None:
        if (self.project == "platform") != (self.city == ""):
            raise ValueError("a city stack names its city; a platform stack names none")

    @classmethod
    def platform(cls, env: str) -> StackRef:
        return cls(env, "", "platform")

    @property
    def is_platform(self) -> bool:
        return self.project == "platform"

    @property
    def name(self) -> str:
        """The Pulumi stack name (unique within its project)."""
        return self.env if self.is_platform else f"{self.env}-{self.city}"

    @property
    def label(self) -> str:
        """How the CLI shows the stack: ``prod-pori`` or ``platform/prod``."""
        return f"{PLATFORM_PREFIX}{self.env}" if self.is_platform else self.name

    @classmethod
    def parse(cls, name: str) -> StackRef:
        if name.startswith(PLATFORM_PREFIX) and name[len(PLATFORM_PREFIX) :]:
            return cls.platform(name[len(PLATFORM_PREFIX) :])
        env, sep, city = name.partition("-")
        if not sep or not env or not city:
            raise ValueError(f"stack name '{name}' is not <env>-<city> (e.g. prod-pori)")
        return cls(env, city)


@dataclass(frozen=True)
class ResourceStep:
    """One resource of a preview and what would happen to it.

    ``inputs`` are the resource's inputs with every secret value replaced by
    ``<secret>``; an engine that cannot see inputs leaves them ``None``.
    """

    op: StepOp
    urn: str
    type: str
    name: str
    parent_urn: str | None = None
    custom: bool = True
    inputs: dict[str, Any] | None = None
    #: for replacements: the properties that force it (real engine)
    replace_reasons: tuple[str, ...] = ()

    @property
    def is_kubernetes(self) -> bool:
        return self.type.startswith("kubernetes:") and not self.type.startswith("pulumi:providers:")


@dataclass(frozen=True)
class Artifact:
    """An extra file of a city's render (for example a realm JSON), path relative to the
    city's render directory, using ``/`` separators."""

    path: str
    content: str


@dataclass(frozen=True)
class PreviewResult:
    """What an engine reports for one stack."""

    stack: StackRef
    engine: str
    steps: tuple[ResourceStep, ...]
    outputs: dict[str, Any] = field(default_factory=dict)
    artifacts: tuple[Artifact, ...] = ()
    diagnostics: tuple[str, ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """Steps by operation, e.g. ``{"create": 40}``."""
        return dict(sorted(Counter(step.op for step in self.steps).items()))

    @property
    def kubernetes_steps(self) -> list[ResourceStep]:
        return [step for step in self.steps if step.is_kubernetes]


class EngineError(Exception):
    """The program or the engine failed; the message says where."""


class SecretLeakError(EngineError):
    """A secret value reached an output that must never hold one."""


@dataclass(frozen=True)
class ProtectedResource:
    urn: str
    type: str
    name: str


class RefusedError(EngineError):
    """A stack the command refuses to change (the backup gate); nothing was applied."""


class ProtectedResourcesError(EngineError):
    """``destroy`` refused: the stack protects resources (e.g. its database)."""

    def __init__(self, stack: StackRef, resources: list[ProtectedResource]) -> None:
        self.stack = stack
        self.resources = tuple(resources)
        names = ", ".join(f"{r.name} ({r.type})" for r in resources)
        super().__init__(
            f"{stack.label}: refusing to destroy: the stack protects {names}; pass "
            "--delete-protected to unprotect and delete them (a database's data is lost "
            "unless restored from its backup)"
        )


@runtime_checkable
class Engine(Protocol):
    """Previews city stacks. The real (Automation API) engine also deploys; see
    ``DeployEngine``."""

    name: str

    def preview(self, stack: StackRef) -> PreviewResult: ...


@runtime_checkable
class DeployEngine(Engine, Protocol):
    """An engine that changes real infrastructure (issue 7's Pulumi engine)."""

    def up(self, stack: StackRef) -> PreviewResult: ...

    def destroy(self, stack: StackRef, *, delete_protected: bool = False) -> PreviewResult:
        """Delete the stack's resources. Refuses (``ProtectedResourcesError``) when the
        stack protects resources (a city's database outside dev) unless
        ``delete_protected``, which unprotects them first."""
        ...

    def refresh(self, stack: StackRef) -> PreviewResult: ...
