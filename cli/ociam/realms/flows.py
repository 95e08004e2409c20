"""Authentication flows as data: small builders for keycloak-config-cli's flow format.

A flow is a list of steps; each step is an authenticator or a sub-flow. Only
custom flows are built here; Keycloak's built-in flows stay untouched.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

JsonObject = dict[str, Any]
Requirement = Literal["REQUIRED", "ALTERNATIVE", "DISABLED", "CONDITIONAL"]


@dataclass(frozen=True)
class Step:
    """An authenticator (``authenticator``) or a sub-flow (``flow``) in a flow."""

    requirement: Requirement
    authenticator: str | None = None
    flow: Flow | None = None
    config_alias: str | None = None
    config: dict[str, str] | None = None

    def __post_init__(self) -> None:
        if (self.authenticator is None) == (self.flow is None):
            raise ValueError("a step is either an authenticator or a sub-flow")
        if (self.config_alias is None) != (self.config is None):
            raise ValueError("an authenticator config needs both an alias and values")


@dataclass(frozen=True)
class Flow:
    alias: str
    description: str
    steps: tuple[Step, ...]
    provider: Literal["basic-flow", "form-flow"] = "basic-flow"
    top_level: bool = True


@dataclass
class FlowSet:
    """Flows and authenticator configs, flattened as Keycloak's realm JSON wants them."""

    flows: list[JsonObject] = field(default_factory=list)
    configs: list[JsonObject] = field(default_factory=list)

    def add(self, flow: Flow) -> str:
        executions: list[JsonObject] = []
        for index, step in enumerate(flow.steps):
            execution: JsonObject = {
                "requirement": step.requirement,
                "priority": (index + 1) * 10,
                "userSetupAllowed": False,
            }
            if step.flow is not None:
                self.add(step.flow)
                execution |= {"authenticatorFlow": True, "flowAlias": step.flow.alias}
            else:
                execution |= {"authenticatorFlow": False, "authenticator": step.authenticator}
            if step.config_alias is not None and step.config is not None:
                execution["authenticatorConfig"] = step.config_alias
                self.configs.append({"alias": step.config_alias, "config": dict(step.config)})
            executions.append(execution)
        self.flows.append(
            {
                "alias": flow.alias,
                "description": flow.description,
                "providerId": flow.provider,
                "topLevel": flow.top_level,
                "builtIn": False,
                "authenticationExecutions": executions,
            }
        )
        return flow.alias

    def realm_fields(self) -> JsonObject:
        return {
            "authenticationFlows": sorted(self.flows, key=lambda f: str(f["alias"])),
            "authenticatorConfig": sorted(self.configs, key=lambda c: str(c["alias"])),
        }


def sub(alias: str, description: str, *steps: Step) -> Flow:
    return Flow(alias=alias, description=description, steps=steps, top_level=False)


def create_account_steps(realm: str) -> tuple[Step, ...]:
    """First broker login that creates a new account and never links to an existing one:
    the profile form only if a required attribute is missing, then create if unique."""
    return (
        Step(
            "REQUIRED",
            authenticator="idp-review-profile",
            config_alias=f"{realm} review profile",
            config={"update.profile.on.first.login": "missing"},
        ),
        Step("REQUIRED", authenticator="idp-create-user-if-unique"),
    )
