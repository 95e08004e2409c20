"""What the real-engine tests share: ``ociam`` run in a checkout copy against the control
plane with the real Pulumi CLI, every line it printed kept, and the live objects read back.
"""

from __future__ import annotations

import base64
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ociam.catalog import load_environment
from tests.realsys.control_plane import ControlPlane, wait_for
from tests.realsys.pulumi_env import OCIAM, PulumiTestEnvironment, copy_checkout, git
from tests.realsys.quantities import parse_quantity

#: objects the cluster's controllers make in every namespace: never the stack's
CONTROLLER_MADE = {("ConfigMap", "kube-root-ca.crt"), ("ServiceAccount", "default")}
COMMAND_TIMEOUT_SECONDS = 900


@dataclass
class RealDeploy:
    plane: ControlPlane
    engine: PulumiTestEnvironment
    checkout: Path
    #: everything ``ociam`` printed, for the no-secret checks
    printed: list[str] = field(default_factory=list)
    #: every secret value the tests set on a stack
    secret_values: list[str] = field(default_factory=list)

    @classmethod
    def create(cls, plane: ControlPlane, base: Path) -> RealDeploy:
        """A private PULUMI_HOME and state in ``base`` and a checkout copy that is a git repo."""
        engine = PulumiTestEnvironment.create(base, plane.bin_dir)
        return cls(plane, engine, copy_checkout(base / "checkout"))

    def ociam(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [OCIAM, *args],
            cwd=self.checkout,
            env=self.engine.env(self.plane.kubeconfig, **env),
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
        self.printed += [result.stdout, result.stderr]
        return result

    def set_city_secrets(self, env: str, city: str) -> None:
        """Every secret the city's catalog refers to, set to a fresh random value."""
        config = load_environment(self.checkout, env).city(city)
        stack = f"{env}-{city}"
        self.engine.pulumi(
            "stack", "init", stack, "--secrets-provider", "passphrase",
            cwd=self.checkout / "stacks" / "city",
        )  # fmt: skip
        for key in sorted(config.secret_keys):
            value = f"s3cr3t-{key}-{secrets.token_urlsafe(12)}"
            self.secret_values.append(value)
            self.engine.set_secret(self.checkout, stack, f"ociam:{key}", value)

    def edit(self, relative: str, old: str, new: str) -> None:
        path = self.checkout / relative
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{old!r} not in {relative}"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")

    def commit(self, message: str) -> None:
        git(self.checkout, "commit", "-q", "-am", message)

    def rendered(self, env: str, city: str, out: Path) -> list[dict[str, Any]]:
        """The offline render of one city, as ``ociam render`` writes it."""
        result = self.ociam("render", "--env", env, "--city", city, "--out", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
        text = (out / env / city / "manifests.yaml").read_text(encoding="utf-8")
        return [doc for doc in yaml.safe_load_all(text) if doc]

    def live(self, obj: dict[str, Any]) -> dict[str, Any] | None:
        metadata = obj["metadata"]
        return self.plane.client.get(
            obj["apiVersion"], obj["kind"], metadata["name"], metadata.get("namespace")
        )

    def live_names(self, api_version: str, kind: str, namespace: str) -> set[str]:
        return {
            o["metadata"]["name"]
            for o in self.plane.client.list(api_version, kind, namespace)
            if (kind, o["metadata"]["name"]) not in CONTROLLER_MADE
        }

    def secret_data(self, namespace: str, name: str) -> dict[str, str]:
        found = self.plane.client.get("v1", "Secret", name, namespace)
        assert found is not None, f"Secret {namespace}/{name}"
        return {k: base64.b64decode(v).decode() for k, v in found.get("data", {}).items()}

    def wait_until_gone(self, namespace: str, timeout: float = 180) -> None:
        wait_for(
            f"namespace {namespace} deleted",
            lambda: True if self.plane.client.get("v1", "Namespace", namespace) is None else None,
            timeout,
        )


def missing_from(expected: Any, actual: Any, where: str = "") -> list[str]:
    """Where ``actual`` lacks or differs from what ``expected`` sets (the API server adds
    defaults and writes quantities in canonical form: ``2000m`` comes back as ``2``)."""
    if isinstance(expected, dict):
        if not isinstance(actual, dict):
            return [f"{where}: expected an object, found {actual!r}"]
        problems = []
        for key, value in expected.items():
            if key not in actual:
                if value not in ([], {}, None):  # the API server omits empty fields
                    problems.append(f"{where}.{key}: missing")
            else:
                problems += missing_from(value, actual[key], f"{where}.{key}")
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return [f"{where}: expected {len(expected)} items, found {actual!r}"]
        problems = []
        for index, (one, other) in enumerate(zip(expected, actual, strict=True)):
            problems += missing_from(one, other, f"{where}[{index}]")
        return problems
    if expected == actual or _same_quantity(expected, actual):
        return []
    return [f"{where}: expected {expected!r}, found {actual!r}"]


def _same_quantity(expected: Any, actual: Any) -> bool:
    if not isinstance(expected, str | int) or not isinstance(actual, str | int):
        return False
    try:
        return parse_quantity(expected) == parse_quantity(actual)
    except (ValueError, ArithmeticError):
        return False
