"""A stand-in for the ``pulumi`` CLI, for the failures the real one cannot be made to
produce here (docs/engines.md lists them: a too old CLI, a file event log, an error
echoing the passphrase, a database replacement, drift, a failing platform stack, exact
``--jobs`` timing). The real CLI runs in tests/cluster/test_real_engine.py.

Installed on PATH as ``pulumi`` by ``tests/engines/conftest.py``. It answers the
commands ``pulumi.automation`` runs, in the CLI's formats: ``version``,
``stack select/init/export/output/history``, ``config --json``, ``state
unprotect``, and ``preview``/``up``/``refresh``/``destroy`` with engine events sent
to ``--event-log`` (gRPC ``tcp://`` address, as CLIs newer than 3.205 do, or a
JSON-lines file for older ones). Every invocation is appended to
``$FAKE_PULUMI_LOG`` (arguments, the environment variables the engine must pass,
working directory, start and end times). Behaviour per stack comes from the
scenario file ``$FAKE_PULUMI_SCENARIO``::

    {"stacks": {"dev-demo": {"steps": [{"op": "replace", "type": "...", "name": "x",
                                          "keys": ["spec.storage"]}],
                              "fail": "preview", "sleep": 0.5, "protect": ["keycloak-db"],
                              "leak_passphrase": true, "config": ["ociam:key"]}}}

State (which stacks exist, their config and resources) lives in ``$FAKE_PULUMI_STATE``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

RECORDED_ENV = (
    "PULUMI_BACKEND_URL",
    "PULUMI_CONFIG_PASSPHRASE",
    "PULUMI_CONFIG_PASSPHRASE_FILE",
    "PULUMI_AUTOMATION_API",
    "PULUMI_SKIP_UPDATE_CHECK",
    "PULUMI_DEBUG_COMMANDS",
)
SECRET_SENTINEL = "[secret]"


def _log(entry: dict[str, Any]) -> None:
    path = os.environ.get("FAKE_PULUMI_LOG")
    if path:
        with Path(path).open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")


def _scenario() -> dict[str, Any]:
    path = os.environ.get("FAKE_PULUMI_SCENARIO")
    if not path or not Path(path).is_file():
        return {}
    data: dict[str, Any] = json.loads(Path(path).read_text(encoding="utf-8"))
    return data


def _project() -> str:
    text = Path("Pulumi.yaml").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.startswith("name:"):
            return line.split(":", 1)[1].strip()
    raise SystemExit("no project name in Pulumi.yaml")


class State:
    def __init__(self) -> None:
        self.root = Path(os.environ["FAKE_PULUMI_STATE"]) / _project()
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, stack: str) -> Path:
        return self.root / f"{stack}.json"

    def exists(self, stack: str) -> bool:
        return self.path(stack).is_file()

    def load(self, stack: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.path(stack).read_text(encoding="utf-8"))
        return data

    def save(self, stack: str, data: dict[str, Any]) -> None:
        self.path(stack).write_text(json.dumps(data), encoding="utf-8")


def _option(args: list[str], name: str) -> str | None:
    if name in args:
        return args[args.index(name) + 1]
    return None


def _urn(stack: str, project: str, typ: str, name: str) -> str:
    return f"urn:pulumi:{stack}::{project}::{typ}::{name}"


def _stack_settings(name: str) -> dict[str, Any]:
    stacks: dict[str, Any] = _scenario().get("stacks", {})
    settings: dict[str, Any] = stacks.get(name, _scenario().get("default", {}))
    return settings


DEFAULT_STEPS = [
    {"op": "create", "type": "kubernetes:core/v1:Namespace", "name": "namespace-ns"},
    {"op": "create", "type": "kubernetes:apps/v1:StatefulSet", "name": "keycloak-statefulset"},
    {"op": "same", "type": "kubernetes:core/v1:Service", "name": "keycloak-service"},
]


def _events(stack: str, command: str, settings: dict[str, Any]) -> list[dict[str, Any]]:
    """The engine events of one operation, in the CLI's JSON shape."""
    project = _project()
    steps = settings.get("steps", DEFAULT_STEPS)
    if command == "destroy":
        steps = [{**s, "op": "delete"} for s in steps]
    if command == "refresh":
        steps = [{**s, "op": "refresh"} for s in steps]
    events: list[dict[str, Any]] = [{"preludeEvent": {"config": {}}}]
    changes: dict[str, int] = {}
    stack_urn = _urn(stack, project, "pulumi:pulumi:Stack", f"{project}-{stack}")
    for step in steps:
        urn = _urn(stack, project, step["type"], step["name"])
        state = {
            "type": step["type"],
            "urn": urn,
            "id": "",
            "parent": stack_urn,
            "provider": "",
            "custom": True,
            "inputs": {"metadata": {"name": step["name"]}, "password": SECRET_SENTINEL},
        }
        ops = [step["op"]]
        if step["op"] == "replace":  # as the engine reports a replacement
            ops = ["create-replacement", "replace", "delete-replaced"]
        for op in ops:
            metadata: dict[str, Any] = {
                "op": op,
                "urn": urn,
                "type": step["type"],
                "provider": "",
                "old": None if op == "create" else state,
                "new": None if op in {"delete", "delete-replaced"} else state,
            }
            if "keys" in step and op in {"create-replacement", "replace"}:
                metadata["keys"] = step["keys"]
                metadata["detailedDiff"] = {
                    key: {"diffKind": "update-replace", "inputDiff": True} for key in step["keys"]
                }
            if step.get("diffs"):
                metadata["diffs"] = step["diffs"]
            planning = command == "preview"
            events.append({"resourcePreEvent": {"metadata": metadata, "planning": planning}})
            events.append({"resOutputsEvent": {"metadata": metadata, "planning": planning}})
            changes[op] = changes.get(op, 0) + 1
    for message in settings.get("diagnostics", []):
        events.append(
            {"diagnosticEvent": {"message": message, "color": "never", "severity": "warning"}}
        )
    events.append(
        {
            "summaryEvent": {
                "maybeCorrupt": False,
                "durationSeconds": 1,
                "resourceChanges": changes,
                "PolicyPacks": {},
            }
        }
    )
    events.append({"cancelEvent": {}})
    now = int(time.time())
    return [{"sequence": i, "timestamp": now, **e} for i, e in enumerate(events)]


def _send(events: list[dict[str, Any]], target: str) -> None:
    if target.startswith("tcp://"):
        import grpc
        from pulumi.runtime.proto import events_pb2, events_pb2_grpc

        with grpc.insecure_channel(target.removeprefix("tcp://")) as channel:
            stub = events_pb2_grpc.EventsStub(channel)
            stub.StreamEvents(
                iter(events_pb2.EventRequest(event=json.dumps(e)) for e in events), timeout=30
            )
        return
    with Path(target).open("a", encoding="utf-8") as handle:
        for event in events:
            handle.write(json.dumps(event) + "\n")


def _operation(command: str, stack: str, args: list[str], state: State) -> int:
    settings = _stack_settings(stack)
    time.sleep(float(settings.get("sleep", 0)))
    if settings.get("leak_passphrase"):
        sys.stderr.write(
            f"error: decrypting: passphrase '{os.environ.get('PULUMI_CONFIG_PASSPHRASE')}' "
            "is wrong\n"
        )
        return 255
    if settings.get("fail") == command:
        print(f"Previewing update ({stack}):")
        sys.stderr.write(f"error: {command} of {stack} failed: the cluster said no\n")
        return 255
    target = _option(args, "--event-log")
    if target:
        _send(_events(stack, command, settings), target)
    print(f"{command.capitalize()} ({stack}): done")
    data = state.load(stack)
    if command == "up":
        data["resources"] = [
            {
                "urn": _urn(stack, _project(), s["type"], s["name"]),
                "type": s["type"],
                "protect": s["name"] in settings.get("protect", []),
            }
            for s in settings.get("steps", DEFAULT_STEPS)
        ]
    elif command == "destroy":
        if any(r.get("protect") for r in data.get("resources", [])):
            sys.stderr.write("error: resource is protected and cannot be deleted\n")
            return 255
        data["resources"] = []
    if command != "preview":
        data["history"] = data.get("history", 0) + 1
    state.save(stack, data)
    return 0


def main(argv: list[str]) -> int:
    args = [a for a in argv if a != "--non-interactive"]
    start = time.time()
    code = 0
    try:
        code = dispatch(args)
    finally:
        _log(
            {
                "argv": argv,
                "cwd": str(Path.cwd()),
                "env": {k: os.environ.get(k) for k in RECORDED_ENV},
                "start": start,
                "end": time.time(),
                "code": code,
            }
        )
    return code


def dispatch(args: list[str]) -> int:
    if args[:1] == ["version"]:
        print(os.environ.get("FAKE_PULUMI_VERSION", "v3.272.0"))
        return 0
    state = State()
    stack = _option(args, "--stack")
    if args[:2] == ["stack", "init"]:
        name = args[2]
        if state.exists(name):
            sys.stderr.write(f"error: stack '{name}' already exists\n")
            return 255
        provider = _option(args, "--secrets-provider")
        state.save(name, {"secrets_provider": provider, "config": {}, "resources": []})
        print(f"Created stack '{name}'")
        return 0
    if stack is None:
        sys.stderr.write(f"error: fake pulumi does not know `{' '.join(args)}`\n")
        return 2
    if not state.exists(stack):
        sys.stderr.write(f"error: no stack named '{stack}' found\n")
        return 255
    data = state.load(stack)
    if args[:2] == ["stack", "select"]:
        return 0
    if args[:1] == ["config"] and "--json" in args:
        configured = _stack_settings(stack).get("config", [])
        out = {key: {"value": SECRET_SENTINEL, "secret": True} for key in configured}
        print(json.dumps(out))
        return 0
    if args[:2] == ["stack", "export"]:
        if "--show-secrets" in args:
            sys.stderr.write("error: ociam must not export secrets\n")
            return 3
        print(json.dumps({"version": 3, "deployment": {"resources": data.get("resources", [])}}))
        return 0
    if args[:2] == ["state", "unprotect"] and "--all" in args and "--yes" in args:
        for resource in data.get("resources", []):
            resource["protect"] = False
        state.save(stack, data)
        return 0
    if args[:2] == ["stack", "output"]:
        secret = "--show-secrets" in args
        print(
            json.dumps({"namespace": "iam-x", "token": "s3cr3t-output" if secret else "[secret]"})
        )
        return 0
    if args[:2] == ["stack", "history"]:
        if "--show-secrets" in args:
            sys.stderr.write("error: ociam must not ask for secrets in history\n")
            return 3
        entry = {
            "kind": "update",
            "startTime": "2026-11-01T10:00:00.000000Z",
            "endTime": "2026-11-01T10:00:05.000000Z",
            "message": "",
            "environment": {},
            "config": {},
            "result": "succeeded",
            "version": data.get("history", 1),
            "resourceChanges": {"create": 1},
        }
        print(json.dumps([entry]))
        return 0
    if args[:1] and args[0] in {"preview", "up", "refresh", "destroy"}:
        return _operation(args[0], stack, args, state)
    sys.stderr.write(f"error: fake pulumi does not know `{' '.join(args)}`\n")
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
