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


@dataclass(frozen=True, order=True)
class StackRef:
    """One city stack: ``<env>-<city>``."""

    env: str
    city: str

    @property
    def name(self) -> str:
        return f"{self.env}-{self.city}"

    @classmethod
    def parse(cls, name: str) -> StackRef:
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

    def destroy(self, stack: StackRef) -> PreviewResult: ...

    def refresh(self, stack: StackRef) -> PreviewResult: ...
