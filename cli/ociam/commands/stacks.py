"""What ``preview``, ``up``, ``destroy`` and ``refresh`` share: which stacks, which
engine, running them in parallel, result lines, the Markdown summary, exit codes."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ociam.console import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_OK, error, info

if TYPE_CHECKING:
    from ociam.engines.base import PreviewResult, StackRef
    from ociam.options import Invocation
    from ociam.realm_review import RealmReview
    from ociam.stackrun import Operation, Outcome


class EngineName(StrEnum):
    auto = "auto"
    pulumi = "pulumi"
    offline = "offline"


EngineOption = Annotated[
    EngineName,
    typer.Option(
        "--engine",
        help="pulumi: the Pulumi CLI (Automation API) with the stack's state; offline: the "
        "program under Pulumi mocks (no CLI, cluster or credentials; everything is a create); "
        "auto: pulumi when the CLI is installed, else offline",
        case_sensitive=False,
    ),
]
AllOption = Annotated[bool, typer.Option("--all", help="Every city of the environment")]
PlatformOption = Annotated[
    bool, typer.Option("--platform", help="The environment's platform stack (platform/<env>)")
]
ChangedSinceOption = Annotated[
    str | None,
    typer.Option(
        "--changed-since",
        metavar="GIT_REF",
        help="The stacks the changes since GIT_REF touch (every environment unless --env "
        "is given to the command); see docs/engines.md",
        show_default=False,
    ),
]
JobsOption = Annotated[
    int,
    typer.Option("--jobs", "-j", min=1, max=32, help="Stacks run at once (Pulumi engine)"),
]
SummaryOption = Annotated[
    Path | None,
    typer.Option(
        "--summary-md",
        dir_okay=False,
        help="Write a Markdown summary (per stack: creates, updates, replaces, deletes; "
        "replaced resources named) fit for a PR comment",
        show_default=False,
    ),
]
ShowOutputOption = Annotated[
    bool,
    typer.Option("--show-output", help="Stream the Pulumi CLI's output, each line prefixed"),
]

OFFLINE_NOTE = (
    "the offline engine has no state: every resource is shown as a create "
    "(compare with an earlier render: ociam preview --engine offline --against DIR)"
)


def choose_engine(name: EngineName, operation: Operation) -> str:
    """The engine to use; ``auto`` says in one line when it falls back to offline."""
    if name is EngineName.auto:
        if shutil.which("pulumi") is not None:
            return "pulumi"
        if operation != "preview":
            error(
                f"`{operation}` needs the Pulumi CLI, which is not installed "
                "(curl -fsSL https://get.pulumi.com | sh; see `ociam doctor`)"
            )
            raise typer.Exit(EXIT_BAD_INPUT)
        info("engine: no Pulumi CLI on PATH, using the offline engine (no state, no cluster)")
        return "offline"
    if name is EngineName.offline and operation != "preview":
        error(f"the offline engine only previews; `{operation}` needs --engine pulumi")
        raise typer.Exit(EXIT_BAD_INPUT)
    return name.value


def select_stacks(
    invocation: Invocation,
    *,
    city: str | None,
    all_cities: bool,
    platform: bool,
    changed_since: str | None,
    env_given: bool,
) -> list[StackRef]:
    """The stacks a command acts on; exit 2 on a bad combination or catalog errors."""
    from ociam.commands.common import load_catalog, select_city
    from ociam.engines.base import StackRef

    if changed_since is not None:
        if city is not None or all_cities or platform:
            error("--changed-since selects the stacks itself: drop --city, --all and --platform")
            raise typer.Exit(EXIT_BAD_INPUT)
        return changed_stacks(invocation, changed_since, env_given)
    if city is not None and all_cities:
        error("give --city CITY or --all (not both), --platform, or --changed-since GIT_REF")
        raise typer.Exit(EXIT_BAD_INPUT)
    if city is None and not all_cities and not platform:
        error("give --city CITY or --all (not both), --platform, or --changed-since GIT_REF")
        raise typer.Exit(EXIT_BAD_INPUT)
    catalog = load_catalog(invocation)
    stacks: list[StackRef] = []
    if platform:
        stacks.append(StackRef.platform(invocation.env))
    if city is not None:
        stacks.append(StackRef(invocation.env, select_city(invocation, catalog, city).slug))
    if all_cities:
        stacks.extend(StackRef(invocation.env, slug) for slug in catalog.cities)
    return stacks


def changed_stacks(invocation: Invocation, ref: str, env_given: bool) -> list[StackRef]:
    """``--changed-since``: map the changed files to stacks, saying why on stderr."""
    from dataclasses import replace

    from ociam.catalog import ENVIRONMENTS
    from ociam.changes import GitError, affected_stacks, changed_files
    from ociam.commands.common import load_catalog

    envs = [invocation.env] if env_given else list(ENVIRONMENTS)
    catalogs = {env: load_catalog(replace(invocation, env=env)) for env in envs}
    try:
        paths = changed_files(invocation.root, ref)
    except GitError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    affected = affected_stacks(
        paths,
        cities=lambda env: list(catalogs[env].cities),
        platform_lists_cities=lambda env: (
            catalogs[env].settings.gateway.listener_mode == "gateway-listener"
        ),
        environments=envs,
    )
    info(
        f"changed since {ref}: {len(paths)} file(s), {len(affected.stacks)} stack(s) "
        f"in {', '.join(envs)}"
    )
    for stack in affected.stacks:
        reasons = affected.reasons[stack]
        more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
        info(f"  {stack.label}: {reasons[0]}{more}")
    for stack in affected.removed:
        info(
            f"  {stack.label}: city file deleted; not previewed "
            f"(remove the stack with `ociam destroy --env {stack.env} --city {stack.city}` "
            "before merging, while its program still exists)"
        )
    return affected.stacks


def run_and_report(
    invocation: Invocation,
    stacks: list[StackRef],
    operation: Operation,
    engine: str,
    action: Callable[[StackRef], tuple[PreviewResult, Any]],
    *,
    jobs: int,
    summary_md: Path | None,
    details: Callable[[Outcome], list[str]] | None = None,
    entry: Callable[[Outcome], dict[str, Any]] | None = None,
    review: RealmReview | None = None,
    upgrades: Callable[[Outcome], list[str]] | None = None,
    runner: Callable[[list[StackRef], Callable[[Outcome], None]], list[Outcome]] | None = None,
    epilogue: Callable[[list[Outcome]], list[str]] | None = None,
) -> None:
    """Run ``action`` on the stacks, print one line per stack (plus ``details`` and the
    realm changes of ``review``), write the summary, and exit 0 when every stack
    succeeded, else 1."""
    from ociam.console import print_json
    from ociam.stackrun import Runner, result_line
    from ociam.summary import render_summary

    lock = threading.Lock()

    def done(outcome: Outcome) -> None:
        if invocation.json:
            return
        with lock:
            for line in details(outcome) if details and outcome.status == "ok" else []:
                typer.echo(line)
            typer.echo(result_line(outcome))
            for line in upgrades(outcome) if upgrades else []:
                typer.echo(f"    {line}")
            for line in review.lines(outcome.stack) if review else []:
                typer.echo(f"    realm {line}")
            if outcome.status not in {"ok", "skipped"} and "\n" in outcome.error:
                for line in outcome.error.splitlines()[1:]:
                    typer.echo(f"    {line}", err=True)

    default_runner = Runner(
        action=action,
        operation=operation,
        jobs=jobs if engine == "pulumi" else 1,
        on_done=done,
    )
    outcomes = default_runner.run(stacks) if runner is None else runner(stacks, done)
    closing = epilogue(outcomes) if epilogue else []
    if closing and not invocation.json:
        for line in closing:
            typer.echo(line)
    notes = [OFFLINE_NOTE] if engine == "offline" else []
    notes += review.notes if review else []
    if summary_md is not None:
        from ociam.commands.common import exit_when_unwritable
        from ociam.fileio import write_text_atomic

        with exit_when_unwritable("the summary", summary_md):
            write_text_atomic(
                summary_md,
                render_summary(
                    outcomes,
                    operation,
                    engine,
                    notes,
                    review.by_label() if review else None,
                    upgrades={o.stack.label: upgrades(o) for o in outcomes} if upgrades else None,
                    rollout=closing,
                ),
            )
    failed = [o for o in outcomes if o.status != "ok"]
    if invocation.json:
        print_json(
            {
                "operation": operation,
                "engine": engine,
                **({"rollout": closing} if closing else {}),
                "stacks": [
                    {
                        "stack": o.stack.label,
                        "status": o.status,
                        "engine": engine,
                        "steps": o.counts,
                        "changes": [
                            {
                                "op": s.op,
                                "type": s.type,
                                "name": s.name,
                                "replace_reasons": list(s.replace_reasons),
                            }
                            for s in (o.result.steps if o.result else ())
                            if s.op != "same"
                        ]
                        if engine == "pulumi"
                        else [],
                        "error": o.error,
                        "seconds": round(o.seconds, 3),
                        **({"realm_changes": review.lines(o.stack)} if review else {}),
                        **({"upgrade": upgrades(o)} if upgrades else {}),
                        **(entry(o) if entry and o.status == "ok" else {}),
                    }
                    for o in outcomes
                ],
            }
        )
    elif len(outcomes) > 1 or failed:
        typer.echo(
            f"{len(outcomes) - len(failed)} of {len(outcomes)} stack(s) ok"
            + (f", {len(failed)} not: {', '.join(o.stack.label for o in failed)}" if failed else "")
        )
    raise typer.Exit(EXIT_FAILURE if failed else EXIT_OK)


def change_lines(outcome: Outcome) -> list[str]:
    """The resources a real-engine run changes, one per line."""
    symbol = {"create": "+", "update": "~", "replace": "+-", "delete": "-", "read": ">"}
    lines = []
    for step in outcome.result.steps if outcome.result else ():
        if step.op in symbol and step.custom:
            reasons = (
                f" (replace: {', '.join(step.replace_reasons)})" if step.replace_reasons else ""
            )
            lines.append(f"  {symbol[step.op]:<2} {step.op:<7} {step.type}  {step.name}{reasons}")
    return lines


def pulumi_engine(invocation: Invocation, show_output: bool) -> Any:
    from ociam.engines.pulumi_engine import PulumiEngine

    lock = threading.Lock()

    def echo(stack: StackRef, line: str) -> None:
        with lock:
            typer.echo(f"[{stack.label}] {line}", err=True)

    return PulumiEngine(invocation.root, on_output=echo if show_output else None)
