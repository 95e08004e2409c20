"""``ociam up | destroy | refresh``: change real stacks through the Pulumi engine.

Safety: in prod, ``up`` and ``destroy`` ask for the city's name (``platform`` for
the platform stack, ``prod`` for several stacks) to be typed, unless ``--yes``;
without a terminal and without ``--yes`` they refuse. ``destroy`` refuses a stack
whose state protects resources (a city's database outside dev) unless
``--delete-protected``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ociam.commands.render import AllOption
from ociam.commands.stacks import (
    ChangedSinceOption,
    EngineName,
    EngineOption,
    JobsOption,
    PlatformOption,
    ShowOutputOption,
    SummaryOption,
    change_lines,
    choose_engine,
    pulumi_engine,
    run_and_report,
    select_stacks,
)
from ociam.console import EXIT_BAD_INPUT, error, info
from ociam.options import CityOption, EnvOption, OutputOption, RootOption, resolve

if TYPE_CHECKING:
    from pathlib import Path

    from ociam.engines.base import PreviewResult, StackRef
    from ociam.options import Invocation
    from ociam.stackrun import Operation

YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation in prod (CI)")
]
PROTECTED_ENVS = frozenset({"prod"})


def confirm(stacks: list[StackRef], operation: Operation, yes: bool) -> None:
    """In prod, have the operator type what is about to change; exit 2 otherwise."""
    guarded = [s for s in stacks if s.env in PROTECTED_ENVS]
    if not guarded or yes:
        return
    if len(guarded) == 1:
        word = "platform" if guarded[0].is_platform else guarded[0].city
        what = guarded[0].label
    else:
        word = guarded[0].env
        what = f"{len(guarded)} stacks ({', '.join(s.label for s in guarded)})"
    try:
        typed = typer.prompt(
            f"{operation} {what}: type '{word}' to continue", default="", err=True
        ).strip()
    except (typer.Abort, EOFError):
        typed = ""
    if typed != word:
        error(
            f"`{operation}` on {what} not confirmed (type '{word}', or pass --yes in CI); "
            "nothing was changed"
        )
        raise typer.Exit(EXIT_BAD_INPUT)


def _run(
    ctx: typer.Context,
    operation: Operation,
    *,
    city: str | None,
    all_cities: bool,
    platform: bool,
    changed_since: str | None,
    engine: EngineName,
    jobs: int,
    summary_md: Path | None,
    show_output: bool,
    yes: bool,
    env: Any,
    output: Any,
    root: Any,
    delete_protected: bool = False,
) -> None:
    invocation: Invocation = resolve(ctx, env, output, root)
    stacks = select_stacks(
        invocation,
        city=city,
        all_cities=all_cities,
        platform=platform,
        changed_since=changed_since,
        env_given=env is not None,
    )
    choose_engine(engine, operation)
    if not stacks:
        info("no stack selected; nothing to do")
        raise typer.Exit(0)
    if operation in {"up", "destroy"}:
        confirm(stacks, operation, yes)
    real = pulumi_engine(invocation, show_output)

    def action(stack: StackRef) -> tuple[PreviewResult, Any]:
        if operation == "up":
            return real.up(stack), None
        if operation == "destroy":
            return real.destroy(stack, delete_protected=delete_protected), None
        return real.refresh(stack), None

    run_and_report(
        invocation,
        stacks,
        operation,
        "pulumi",
        action,
        jobs=jobs,
        summary_md=summary_md,
        details=change_lines,
    )


def up(
    ctx: typer.Context,
    city: CityOption = None,
    all_cities: AllOption = False,
    platform: PlatformOption = False,
    changed_since: ChangedSinceOption = None,
    engine: EngineOption = EngineName.auto,
    jobs: JobsOption = 4,
    summary_md: SummaryOption = None,
    show_output: ShowOutputOption = False,
    yes: YesOption = False,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Deploy stacks with the Pulumi CLI: the platform stack first, then cities.

    Needs the Pulumi CLI, the backend (OCIAM_PULUMI_BACKEND_URL or all.yml), the
    passphrase (PULUMI_CONFIG_PASSPHRASE[_FILE]) and a kubeconfig. In prod, asks
    for the city's name unless --yes. Exit 1 when any stack failed.
    """
    _run(
        ctx,
        "up",
        city=city,
        all_cities=all_cities,
        platform=platform,
        changed_since=changed_since,
        engine=engine,
        jobs=jobs,
        summary_md=summary_md,
        show_output=show_output,
        yes=yes,
        env=env,
        output=output,
        root=root,
    )


def destroy(
    ctx: typer.Context,
    city: CityOption = None,
    all_cities: AllOption = False,
    platform: PlatformOption = False,
    engine: EngineOption = EngineName.auto,
    jobs: JobsOption = 4,
    summary_md: SummaryOption = None,
    show_output: ShowOutputOption = False,
    yes: YesOption = False,
    delete_protected: Annotated[
        bool,
        typer.Option(
            "--delete-protected",
            help="Also delete what the stack protects (a city's database outside dev): "
            "unprotects it first. Its data is gone unless restored from backup",
        ),
    ] = False,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Delete stacks' resources with the Pulumi CLI: cities first, then the platform.

    Refuses a stack whose state protects resources (the database outside dev)
    unless --delete-protected. In prod, asks for the city's name unless --yes.
    """
    _run(
        ctx,
        "destroy",
        city=city,
        all_cities=all_cities,
        platform=platform,
        changed_since=None,
        engine=engine,
        jobs=jobs,
        summary_md=summary_md,
        show_output=show_output,
        yes=yes,
        env=env,
        output=output,
        root=root,
        delete_protected=delete_protected,
    )


def refresh(
    ctx: typer.Context,
    city: CityOption = None,
    all_cities: AllOption = False,
    platform: PlatformOption = False,
    changed_since: ChangedSinceOption = None,
    engine: EngineOption = EngineName.auto,
    jobs: JobsOption = 4,
    summary_md: SummaryOption = None,
    show_output: ShowOutputOption = False,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Refresh stacks' state from the cluster with the Pulumi CLI (drift shows as updates)."""
    _run(
        ctx,
        "refresh",
        city=city,
        all_cities=all_cities,
        platform=platform,
        changed_since=changed_since,
        engine=engine,
        jobs=jobs,
        summary_md=summary_md,
        show_output=show_output,
        yes=True,
        env=env,
        output=output,
        root=root,
    )
