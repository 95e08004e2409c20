"""The real engine: the project's Pulumi programs through the Automation API.

``PulumiEngine(root).preview(StackRef("prod", "pori"))`` runs ``stacks/city`` (or
``stacks/platform`` for a platform stack) with a ``LocalWorkspace`` on that
directory and the Pulumi CLI found on ``PATH``, selecting (or creating) the stack.
Every command gets the backend explicitly (``PULUMI_BACKEND_URL``); the secrets
passphrase reaches the CLI only through the inherited environment
(``PULUMI_CONFIG_PASSPHRASE`` or ``PULUMI_CONFIG_PASSPHRASE_FILE``) and is never
copied into an object, an argument or a message: any text this engine reports is
scrubbed of it.

Results come from the engine's event stream (``--event-log``): one
``ResourceStep`` per resource with the operation and, for replacements, the
properties that force it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pulumi import automation as auto
from pulumi.automation import PulumiCommand, errors
from semver import VersionInfo

from ociam.catalog import CatalogError, load_environment
from ociam.components.program import load_city
from ociam.engines.base import (
    SECRET_PLACEHOLDER,
    EngineError,
    PreviewResult,
    ProtectedResource,
    ProtectedResourcesError,
    ResourceStep,
    StackRef,
    StepOp,
)

BACKEND_ENV = "OCIAM_PULUMI_BACKEND_URL"
PULUMI_BACKEND_ENV = "PULUMI_BACKEND_URL"
PASSPHRASE_ENV = "PULUMI_CONFIG_PASSPHRASE"
PASSPHRASE_FILE_ENV = "PULUMI_CONFIG_PASSPHRASE_FILE"
DEFAULT_BACKEND = "file://~/.ociam/pulumi-state"
#: the Automation API needs at least this CLI (as `ociam doctor` checks)
MIN_CLI_VERSION = "3.200.0"
#: the secret marker in Pulumi's JSON (state exports, event inputs)
_SECRET_SIG = "4dabf18193072939515e22adb298388d"
_PULUMI_SECRET_TEXT = "[secret]"

#: engine operation → the step op we report; replacement steps collapse to "replace"
_OPS: dict[str, StepOp] = {
    "same": "same",
    "create": "create",
    "update": "update",
    "delete": "delete",
    "replace": "replace",
    "create-replacement": "replace",
    "delete-replaced": "replace",
    "discard-replaced": "replace",
    "read": "read",
    "read-replacement": "read",
    "import": "create",
    "import-replacement": "replace",
    "discard": "delete",
    "remove-pending-replace": "same",
}
#: when one resource has several events, the most significant op wins
_RANK: dict[StepOp, int] = {
    "replace": 5,
    "delete": 4,
    "create": 3,
    "update": 2,
    "read": 1,
    "same": 0,
}


def pulumi_cli_available(which: Callable[[str], str | None] = shutil.which) -> bool:
    return which("pulumi") is not None


def resolve_backend(configured: str, root: Path, environ: Mapping[str, str]) -> str:
    """The backend URL: ``OCIAM_PULUMI_BACKEND_URL``, else ``PULUMI_BACKEND_URL``, else
    the environment's ``pulumi.backend_url`` (all.yml). A ``file://`` directory is made
    absolute (``~`` expanded, relative paths from the checkout) and created if missing;
    other schemes (s3://, azblob://, gs://, https://) pass through unchanged."""
    url = environ.get(BACKEND_ENV) or environ.get(PULUMI_BACKEND_ENV) or configured
    if not url.startswith("file://"):
        return url
    path = Path(url.removeprefix("file://")).expanduser()
    if not path.is_absolute():
        path = root / path
    try:
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise EngineError(f"cannot create the Pulumi state directory {path}: {exc}") from exc
    return f"file://{path.resolve().as_posix()}"


def check_passphrase(environ: Mapping[str, str]) -> None:
    """The passphrase secrets provider needs one of the two variables (never printed)."""
    if environ.get(PASSPHRASE_ENV):
        return
    file = environ.get(PASSPHRASE_FILE_ENV)
    if file:
        path = Path(file).expanduser()
        if not path.is_file():
            what = "a directory" if path.is_dir() else "not a regular file"
            what = what if path.exists() else "which does not exist"
            raise EngineError(f"{PASSPHRASE_FILE_ENV} names {file}, {what}")
        return
    raise EngineError(
        f"the stacks use the passphrase secrets provider: set {PASSPHRASE_ENV} or "
        f"{PASSPHRASE_FILE_ENV} (a file holding it)"
    )


def _known_secrets(environ: Mapping[str, str]) -> list[str]:
    """Values that must never appear in anything this engine reports."""
    values = [environ.get(PASSPHRASE_ENV, "")]
    file = environ.get(PASSPHRASE_FILE_ENV)
    if file:
        with contextlib.suppress(OSError):
            values.append(Path(file).expanduser().read_text(encoding="utf-8").strip())
    return [v for v in values if len(v) >= 4]


def scrub(text: str, secrets: Iterable[str]) -> str:
    for value in secrets:
        text = text.replace(value, SECRET_PLACEHOLDER)
    return text


def redact_pulumi(value: Any) -> Any:
    """Pulumi's secret markers (``[secret]``, secret-signature objects) become ``<secret>``."""
    if isinstance(value, dict):
        if _SECRET_SIG in value:
            return SECRET_PLACEHOLDER
        return {key: redact_pulumi(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact_pulumi(item) for item in value]
    if value == _PULUMI_SECRET_TEXT:
        return SECRET_PLACEHOLDER
    return value


@dataclass
class _Collected:
    op: StepOp
    urn: str
    type: str
    parent: str | None
    custom: bool
    inputs: dict[str, Any] | None
    reasons: tuple[str, ...]


class EventCollector:
    """Folds the engine's event stream into one step per resource (thread-safe: the
    Automation API delivers events from its own threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._steps: dict[str, _Collected] = {}
        self.diagnostics: list[str] = []
        self.summary: dict[str, int] | None = None

    def __call__(self, event: Any) -> None:
        with self._lock:
            if event.diagnostic_event is not None:
                diagnostic = event.diagnostic_event
                if diagnostic.severity in {"error", "warning"} and diagnostic.message:
                    self.diagnostics.append(f"{diagnostic.severity}: {diagnostic.message.strip()}")
            if event.summary_event is not None:
                self.summary = {
                    str(k): int(v) for k, v in event.summary_event.resource_changes.items()
                }
            for holder in (event.resource_pre_event, event.res_outputs_event):
                if holder is not None:
                    self._step(holder.metadata)

    def _step(self, metadata: Any) -> None:
        raw = str(getattr(metadata.op, "value", metadata.op))
        if raw == "refresh":
            state = metadata.new or metadata.old
            op: StepOp = "delete" if metadata.new is None and metadata.old else "same"
            if metadata.diffs:
                op = "update"
        else:
            op = _OPS.get(raw, "same")
            state = metadata.new or metadata.old
        if metadata.type == "pulumi:pulumi:Stack":
            return
        reasons = tuple(metadata.keys or ())
        if op == "replace" and not reasons and metadata.detailed_diff:
            reasons = tuple(
                path
                for path, diff in metadata.detailed_diff.items()
                if str(getattr(diff.diff_kind, "value", diff.diff_kind)).endswith("-replace")
            )
        previous = self._steps.get(metadata.urn)
        if previous is not None and _RANK[previous.op] > _RANK[op]:
            return
        inputs = getattr(state, "inputs", None) if state is not None else None
        self._steps[metadata.urn] = _Collected(
            op=op,
            urn=metadata.urn,
            type=metadata.type,
            parent=(getattr(state, "parent", "") or None) if state is not None else None,
            custom=bool(getattr(state, "custom", True)) if state is not None else True,
            inputs=redact_pulumi(dict(inputs)) if inputs else None,
            reasons=tuple(sorted(set(reasons) | set(previous.reasons if previous else ()))),
        )

    def steps(self) -> tuple[ResourceStep, ...]:
        with self._lock:
            collected = sorted(self._steps.values(), key=lambda c: c.urn)
        return tuple(
            ResourceStep(
                op=c.op,
                urn=c.urn,
                type=c.type,
                name=c.urn.rsplit("::", 1)[-1],
                parent_urn=c.parent,
                custom=c.custom,
                inputs=c.inputs,
                replace_reasons=c.reasons,
            )
            for c in collected
        )


class PulumiEngine:
    """Preview, deploy, destroy and refresh stacks with the Pulumi CLI (Automation API)."""

    name = "pulumi"

    def __init__(
        self,
        root: Path,
        *,
        environ: Mapping[str, str] | None = None,
        on_output: Callable[[StackRef, str], None] | None = None,
    ) -> None:
        self.root = root.resolve()
        self.environ = os.environ if environ is None else environ
        self.on_output = on_output
        self._command: Any = None
        self._lock = threading.Lock()
        self._settings: dict[str, tuple[str, str]] = {}
        #: per stack, variables its program sees on top (the Keycloak rollout decision)
        self.program_env: dict[StackRef, dict[str, str]] = {}

    # -- set-up ---------------------------------------------------------------

    def _cli(self) -> Any:
        """One ``PulumiCommand`` (it runs ``pulumi version`` once) for every stack."""
        with self._lock:
            if self._command is None:
                if not pulumi_cli_available():
                    raise EngineError(
                        "the Pulumi CLI is not installed (curl -fsSL https://get.pulumi.com | sh)"
                    )
                try:
                    self._command = PulumiCommand(version=VersionInfo.parse(MIN_CLI_VERSION))
                except Exception as exc:
                    raise EngineError(f"pulumi CLI: {exc}") from exc
            return self._command

    def _env_settings(self, env: str) -> tuple[str, str]:
        """(backend URL, secrets provider) of an environment."""
        with self._lock:
            if env not in self._settings:
                try:
                    settings = load_environment(self.root, env).settings.pulumi
                except CatalogError as exc:
                    raise EngineError(f"the {env} catalog has errors:\n{exc}") from exc
                backend = resolve_backend(settings.backend_url, self.root, self.environ)
                self._settings[env] = (backend, settings.secrets_provider)
            return self._settings[env]

    def work_dir(self, stack: StackRef) -> Path:
        return self.root / "stacks" / stack.project

    def stack_env(self, stack: StackRef) -> dict[str, str]:
        """What every command of this stack gets on top of the inherited environment.

        Deliberately without the passphrase: it is inherited, so it is in no object
        (``LocalWorkspace`` puts ``env_vars`` in its repr)."""
        backend, _ = self._env_settings(stack.env)
        return {
            PULUMI_BACKEND_ENV: backend,
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            **self.program_env.get(stack, {}),
        }

    def _stack(self, stack: StackRef, *, create: bool = True) -> Any:
        """Select the stack (creating it first when ``create``: preview and up)."""
        _, provider = self._env_settings(stack.env)
        if provider == "passphrase":
            check_passphrase(self.environ)
        options = auto.LocalWorkspaceOptions(
            env_vars=self.stack_env(stack),
            secrets_provider=provider,
            pulumi_command=self._cli(),
        )
        work_dir = self.work_dir(stack)
        if not (work_dir / "Pulumi.yaml").is_file():
            raise EngineError(f"no Pulumi project at {work_dir}")
        chooser = auto.create_or_select_stack if create else auto.select_stack
        return self._run(
            stack,
            lambda: chooser(stack_name=stack.name, work_dir=str(work_dir), opts=options),
        )

    def _run(self, stack: StackRef, action: Callable[[], Any]) -> Any:
        """Run an Automation API call; CLI failures become an EngineError with the tail
        of the CLI's output, scrubbed of the passphrase."""
        try:
            return action()
        except errors.CommandError as exc:
            raise EngineError(f"{stack.label}: {self._cli_error(str(exc))}") from None
        except EngineError:
            raise
        except Exception as exc:
            raise EngineError(f"{stack.label}: {scrub(repr(exc), self._secrets())}") from None

    def _secrets(self) -> list[str]:
        return _known_secrets(self.environ)

    def _cli_error(self, text: str, lines: int = 25, errors: int = 10) -> str:
        """The CLI's own error first (its ``error:`` lines from stderr), then the resources'
        errors (which a program's traceback printed after them must not push out), then
        the tail of what it printed; scrubbed of the passphrase."""
        out, _, err = text.partition("\n stderr: ")
        out = out.partition("\n stdout: ")[2]
        err_lines = [line.strip() for line in err.splitlines() if line.strip()]
        first = [line for line in err_lines if line.startswith("error:")] or err_lines or ["failed"]
        rest = [
            line for line in (out.splitlines() + err_lines) if line.strip() and line != first[0]
        ]
        resource_errors = list(dict.fromkeys(line for line in rest if " error: " in line))
        kept = resource_errors[:errors]
        tail = [line for line in rest[-lines:] if line not in kept]
        return scrub("\n".join([first[0], *kept, *tail]), self._secrets())

    def _printer(self, stack: StackRef) -> Callable[[str], None] | None:
        if self.on_output is None:
            return None
        callback = self.on_output
        secrets = self._secrets()
        return lambda line: callback(stack, scrub(line, secrets))

    def _raw(self, stack: StackRef, args: list[str]) -> str:
        """A CLI command the Automation API has no (secret-free) method for."""
        command = self._cli()
        result = self._run(
            stack,
            lambda: command.run(
                [*args, "--stack", stack.name], str(self.work_dir(stack)), self.stack_env(stack)
            ),
        )
        return str(result.stdout)

    # -- checks ---------------------------------------------------------------

    def missing_config(self, stack: StackRef, auto_stack: Any) -> list[str]:
        """Secret config keys the city program requires that the stack does not have
        (read without --show-secrets: values stay encrypted)."""
        if stack.is_platform:
            return []
        try:
            needed = load_city(self.root, stack).secret_keys
        except Exception as exc:
            raise EngineError(f"{stack.label}: {exc}") from exc
        data = json.loads(self._raw(stack, ["config", "--json"]) or "{}")
        return sorted(f"ociam:{key}" for key in needed if f"ociam:{key}" not in data)

    def exported_resources(self, stack: StackRef) -> list[dict[str, Any]]:
        """The resources of the stack's state (``pulumi stack export`` without
        --show-secrets: secret inputs stay encrypted); [] for a stack never created."""
        try:
            self._stack(stack, create=False)
        except EngineError as exc:
            if "no stack named" in str(exc).lower() or "not found" in str(exc).lower():
                return []
            raise
        exported = json.loads(self._raw(stack, ["stack", "export"]) or "{}")
        resources: list[dict[str, Any]] = (exported.get("deployment") or {}).get("resources") or []
        return resources

    def protected_resources(self, stack: StackRef) -> list[ProtectedResource]:
        """Resources the stack's state protects (from ``pulumi stack export`` without
        --show-secrets; only URNs, types and the protect flag are read)."""
        self._stack(stack, create=False)
        exported = json.loads(self._raw(stack, ["stack", "export"]) or "{}")
        resources = (exported.get("deployment") or {}).get("resources") or []
        return [
            ProtectedResource(
                urn=r["urn"], type=r.get("type", ""), name=r["urn"].rsplit("::", 1)[-1]
            )
            for r in resources
            if r.get("protect")
        ]

    # -- operations -----------------------------------------------------------

    def _result(
        self, stack: StackRef, collector: EventCollector, outputs: Any = None
    ) -> PreviewResult:
        secrets = self._secrets()
        plain: dict[str, Any] = {}
        for key, value in sorted((outputs or {}).items()):
            plain[key] = SECRET_PLACEHOLDER if value.secret else redact_pulumi(value.value)
        return PreviewResult(
            stack=stack,
            engine=self.name,
            steps=collector.steps(),
            outputs=plain,
            diagnostics=tuple(scrub(d, secrets) for d in collector.diagnostics),
        )

    def _common(self, stack: StackRef) -> dict[str, Any]:
        return {"color": "never", "on_output": self._printer(stack), "suppress_progress": True}

    def preview(self, stack: StackRef) -> PreviewResult:
        auto_stack = self._stack(stack)
        self._require_config(stack, auto_stack)
        collector = EventCollector()
        self._run(
            stack, lambda: auto_stack.preview(on_event=collector, diff=False, **self._common(stack))
        )
        return self._result(stack, collector)

    def up(self, stack: StackRef) -> PreviewResult:
        auto_stack = self._stack(stack)
        self._require_config(stack, auto_stack)
        collector = EventCollector()
        done = self._run(
            stack,
            lambda: auto_stack.up(on_event=collector, show_secrets=False, **self._common(stack)),
        )
        return self._result(stack, collector, done.outputs)

    def refresh(self, stack: StackRef) -> PreviewResult:
        auto_stack = self._stack(stack, create=False)
        collector = EventCollector()
        self._run(
            stack,
            lambda: auto_stack.refresh(
                on_event=collector, show_secrets=False, **self._common(stack)
            ),
        )
        return self._result(stack, collector)

    def destroy(self, stack: StackRef, *, delete_protected: bool = False) -> PreviewResult:
        protected = self.protected_resources(stack)
        if protected and not delete_protected:
            raise ProtectedResourcesError(stack, protected)
        auto_stack = self._stack(stack, create=False)
        if protected:
            self._raw(stack, ["state", "unprotect", "--all", "--yes"])
        collector = EventCollector()
        self._run(
            stack,
            lambda: auto_stack.destroy(
                on_event=collector, show_secrets=False, **self._common(stack)
            ),
        )
        return self._result(stack, collector)

    def _require_config(self, stack: StackRef, auto_stack: Any) -> None:
        missing = self.missing_config(stack, auto_stack)
        if missing:
            keys = ", ".join(missing)
            raise EngineError(
                f"{stack.label}: secret config missing: {keys}; set each with "
                f"`pulumi config set --secret KEY --stack {stack.name}` in stacks/{stack.project}"
            )
