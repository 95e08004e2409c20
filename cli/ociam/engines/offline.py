"""The offline engine: the city program, in-process, under ``pulumi.runtime.set_mocks``.

No Pulumi CLI, no cluster, no credentials. Each run gets a fresh
``contextvars.Context`` and event loop (the Pulumi runtime keeps its state in
context variables), so many cities render in one process without leaking
state into each other. Secret config is supplied as Pulumi supplies it
(``ociam:<key>``, marked secret) with throw-away placeholder values; every value
the program marks secret is replaced by ``<secret>`` as it is recorded, and the
whole result is then searched for the placeholders and for generated values: a
hit is a ``SecretLeakError``, never a render.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import json
import runpy
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
from google.protobuf import struct_pb2  # type: ignore[import-untyped]
from pulumi import _types as pulumi_types
from pulumi.output import Unknown
from pulumi.runtime import config as runtime_config
from pulumi.runtime import mocks, resource, rpc, settings
from pulumi.runtime import stack as runtime_stack
from pulumi.runtime.proto import resource_pb2, source_pb2

from ociam.catalog import CatalogError
from ociam.components.artifacts import collecting
from ociam.components.program import ROOT_CONFIG_KEY, load_city
from ociam.engines.base import (
    SECRET_PLACEHOLDER,
    Artifact,
    EngineError,
    PreviewResult,
    ResourceStep,
    SecretLeakError,
    StackRef,
)

PROJECT = "ociam-city"
#: Pulumi project name of each project directory under ``stacks/``
PROJECTS = {"city": PROJECT, "platform": "ociam-platform"}
#: type tokens whose mocked outputs are generated secrets
_GENERATED = {
    "random:index/randomPassword:RandomPassword": "result",
    "random:index/randomString:RandomString": "result",
}


def _redact_all(value: Any) -> Any:
    """The shape of a secret value with every leaf replaced by the placeholder."""
    if isinstance(value, dict):
        return {key: _redact_all(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact_all(item) for item in value]
    return SECRET_PLACEHOLDER


def redact(value: Any) -> Any:
    """Inputs as recorded by the mock monitor, with secret values replaced."""
    if rpc.is_rpc_secret(value):
        return _redact_all(rpc.unwrap_rpc_secret(value))
    if isinstance(value, Unknown):
        raise EngineError(
            "an input depends on another resource's output, which is unknown offline; "
            "build inputs from the catalog (see docs/stack.md)"
        )
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redact(item) for item in value]
    return value


@dataclass
class _Recorder:
    """Records each registration and answers it.

    Outputs are not echoed back (the city program reads no output of a Kubernetes
    object, and echoing doubles the serialization work); generated secrets get a
    fresh random value, remembered so the result can be searched for it.
    """

    generated: list[str] = field(default_factory=list)
    steps: list[ResourceStep] = field(default_factory=list)

    def outputs(self, typ: str) -> dict[str, Any]:
        output_key = _GENERATED.get(typ)
        if output_key is None:
            return {}
        value = f"offline-generated-{secrets.token_hex(12)}"
        self.generated.append(value)
        return {output_key: value}


class _NoMocks(pulumi.runtime.Mocks):
    """The monitor below answers registrations itself; nothing else may be called."""

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        raise EngineError(f"unexpected resource read ({args.typ})")

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        raise EngineError(f"the offline engine answers no provider calls ({args.token})")


class _Monitor(mocks.MockMonitor):
    """The mock resource monitor, recording every registration with its inputs.

    Answers synchronously without pumping the event loop, so each registration is
    recorded whole (the stock mock monitor re-enters the loop while it answers)."""

    def __init__(self, recorder: _Recorder) -> None:
        super().__init__(_NoMocks())
        self.recorder = recorder

    def RegisterResource(self, request: Any) -> Any:
        urn = self.make_urn(request.parent, request.type, request.name)
        if request.type == "pulumi:pulumi:Stack":
            return resource_pb2.RegisterResourceResponse(urn=urn)
        inputs = rpc.deserialize_properties(request.object)
        self.recorder.steps.append(
            ResourceStep(
                op="create",
                urn=urn,
                type=request.type,
                name=request.name,
                parent_urn=request.parent or None,
                custom=bool(request.custom),
                inputs=redact(inputs),
            )
        )
        state = self.recorder.outputs(request.type)
        resource_id = f"{request.name}-id" if request.custom else ""
        self.resources[urn] = mocks.MockMonitor.ResourceRegistration(urn, resource_id, state)
        answer = struct_pb2.Struct()
        answer.update(state)
        return resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=answer)


def _current_loop_state() -> tuple[Any, Any]:
    """The thread's current event loop as the policy holds it (without creating one)."""
    local = getattr(asyncio.get_event_loop_policy(), "_local", None)
    return getattr(local, "_loop", None), getattr(local, "_set_called", False)


def _restore_loop_state(saved: tuple[Any, Any]) -> None:
    """Give the thread back the event loop it had, so callers (and other Pulumi mock
    tests in the same process) see no change."""
    asyncio.set_event_loop(saved[0])
    local = getattr(asyncio.get_event_loop_policy(), "_local", None)
    if local is not None:
        local._set_called = saved[1]


def _no_debug(*_args: Any, **_kwargs: Any) -> None:
    """Debug messages go to the Pulumi CLI's debug channel, which offline does not exist."""


@contextmanager
def _quiet_runtime() -> Iterator[None]:
    """Skip what only a real engine uses: source positions of each resource (a Python
    stack walk per registration) and debug messages for the CLI. Together they are
    about half of the offline run time."""
    originals = (resource._get_stack_trace, pulumi.log.debug, pulumi_types.unwrap_type)
    resource._get_stack_trace = source_pb2.StackTrace
    pulumi.log.debug = _no_debug
    pulumi_types.unwrap_type = _memoized(originals[2])
    try:
        yield
    finally:
        resource._get_stack_trace, pulumi.log.debug, pulumi_types.unwrap_type = originals


def _memoized(function: Any) -> Any:
    """``_types.unwrap_type`` depends on its type argument only; remember its answers."""
    answers: dict[Any, Any] = {}

    def unwrap(value: Any) -> Any:
        try:
            return answers[value]
        except KeyError:
            answers[value] = answer = function(value)
            return answer
        except TypeError:  # an unhashable annotation
            return function(value)

    return unwrap


class _InlineExecutor(concurrent.futures.ThreadPoolExecutor):
    """Runs the runtime's monitor calls at once, in the event loop's thread.

    The Pulumi SDK sends each registration to a thread pool because a real monitor
    is a gRPC server; the mock monitor is a Python object that answers at once, and
    the thread hop per resource costs more than the answer. (asyncio accepts only
    ThreadPoolExecutor subclasses; this one never starts a thread.)"""

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[Any]:
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the awaiting coroutine
            future.set_exception(exc)
        return future


def _check_no_leak(result: PreviewResult, values: list[str]) -> None:
    """Fail when any secret value (placeholder or generated) reached the result."""
    checks: list[tuple[str, str]] = [
        (step.urn, json.dumps(step.inputs, sort_keys=True)) for step in result.steps
    ]
    checks += [(f"artifact {a.path}", a.content) for a in result.artifacts]
    checks.append(("stack outputs", json.dumps(result.outputs, sort_keys=True, default=str)))
    for where, text in checks:
        for value in values:
            if value in text:
                raise SecretLeakError(
                    f"{result.stack.name}: a secret value reached {where}; "
                    "mark it with pulumi.Output.secret or move it to a Secret"
                )


class OfflineEngine:
    """Runs ``stacks/city/__main__.py`` (or, for an environment's platform stack,
    ``stacks/platform/__main__.py``) under mocks; ``preview`` reports every resource
    as a create (there is no state) with its inputs."""

    name = "offline"

    def __init__(self, root: Path, program: Path | None = None) -> None:
        self.root = root.resolve()
        self.program = (program or self.root / "stacks" / "city" / "__main__.py").resolve()
        if not self.program.is_file():
            raise EngineError(f"no city program at {self.program}")

    def _program(self, stack: StackRef) -> Path:
        if not stack.is_platform:
            return self.program
        program = self.root / "stacks" / "platform" / "__main__.py"
        if not program.is_file():
            raise EngineError(f"no platform program at {program}")
        return program

    def _config(self, stack: StackRef) -> tuple[dict[str, str], list[str], list[str]]:
        if stack.is_platform:
            return {f"ociam:{ROOT_CONFIG_KEY}": str(self.root)}, [], []
        city = load_city(self.root, stack)
        placeholders = {
            f"ociam:{key}": f"offline-placeholder-{secrets.token_hex(12)}"
            for key in city.secret_keys
        }
        config = {f"ociam:{ROOT_CONFIG_KEY}": str(self.root), **placeholders}
        return config, list(placeholders), list(placeholders.values())

    def preview(self, stack: StackRef) -> PreviewResult:
        """Run the program for one stack and return every resource with its inputs."""
        try:
            program_path = self._program(stack)
            config, secret_keys, secret_values = self._config(stack)
        except CatalogError as exc:
            raise EngineError(f"{stack.label}: {exc}") from exc
        recorder = _Recorder()
        artifacts: list[Artifact] = []
        outputs: dict[str, Any] = {}

        def run() -> None:
            saved = _current_loop_state()
            loop = asyncio.new_event_loop()
            loop.set_default_executor(_InlineExecutor())
            # a failed run leaves futures nobody awaits; the failure itself is raised
            loop.set_exception_handler(lambda _loop, _context: None)
            asyncio.set_event_loop(loop)
            try:
                monitor = _Monitor(recorder)
                pulumi.runtime.set_mocks(
                    monitor.mocks,
                    project=PROJECTS[stack.project],
                    stack=stack.name,
                    # a preview, as `pulumi preview` is: outputs the monitor does not
                    # answer stay unknown instead of echoing inputs (15 % faster)
                    preview=True,
                    monitor=monitor,
                )
                # pending outputs live in a set that is a context variable's *default*,
                # shared by every context: give this run its own
                settings.SETTINGS.outputs = set()
                runtime_config.set_all_config(config, secret_keys)
                # set_mocks starts a root stack for unit tests; run_in_stack makes its own
                settings.ROOT.set(None)

                def program() -> None:
                    runpy.run_path(str(program_path), run_name="__main__")
                    root = settings.get_root_resource()
                    outputs.update(getattr(root, "outputs", {}))

                with collecting() as published:
                    loop.run_until_complete(runtime_stack.run_in_stack(program))
                    artifacts.extend(published)
            finally:
                loop.close()
                _restore_loop_state(saved)

        try:
            with _quiet_runtime():
                contextvars.Context().run(run)
        except (EngineError, ValueError) as exc:
            raise EngineError(f"{stack.label}: {exc}") from exc
        except Exception as exc:
            raise EngineError(
                f"{stack.label}: the {stack.project} program failed: {exc!r}"
            ) from exc
        result = PreviewResult(
            stack=stack,
            engine=self.name,
            steps=tuple(sorted(recorder.steps, key=lambda s: s.urn)),
            outputs={key: _plain_output(value) for key, value in sorted(outputs.items())},
            artifacts=tuple(sorted(artifacts, key=lambda a: a.path)),
        )
        _check_no_leak(result, secret_values + recorder.generated)
        return result


def _plain_output(value: Any) -> Any:
    """Stack outputs are plain values in the city program; anything else is shown by type."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return f"<{type(value).__name__}>"
