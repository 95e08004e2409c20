"""``ociam up | destroy | refresh``: change real stacks through the Pulumi engine.

Safety: in prod, ``up`` and ``destroy`` ask for the city's name (``platform`` for
the platform stack, ``prod`` for several stacks) to be typed, unless ``--yes``;
without a terminal and without ``--yes`` they refuse. ``destroy`` refuses a stack
whose state protects resources (a city's database outside dev) unless
``--delete-protected``.
"""

from __future__ import annotations

from pathlib import Path
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
    from collections.abc import Callable

    from ociam.engines.base import PreviewResult, StackRef
    from ociam.options import Invocation
    from ociam.stackrun import Operation, Outcome
    from ociam.upgrades.rollout import UpgradeAwareUp

YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation in prod (CI)")
]
PROTECTED_ENVS = frozenset({"prod"})
SkipGateOption = Annotated[
    bool,
    typer.Option(
        "--skip-backup-gate",
        help="Apply a Keycloak/PostgreSQL version change, or the switch to an external "
        "database, without a fresh backup (said loudly; refused in prod without --yes)",
    ),
]
WavesOption = Annotated[
    str | None,
    typer.Option(
        "--waves",
        metavar="SPEC",
        help="Staged rollout: NAME=CITY[+CITY],...,rest (or `defaults`: upgrades.waves of "
        "all.yml); each wave health-gated, a failure stops before the next wave",
        show_default=False,
    ),
]
HealthTimeoutOption = Annotated[
    int | None,
    typer.Option(
        "--health-timeout",
        min=1,
        metavar="SECONDS",
        help="Staged rollout: how long to wait for each city to become healthy "
        "(default upgrades.health_timeout_seconds)",
        show_default=False,
    ),
]


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
    skip_backup_gate: bool = False,
    waves: str | None = None,
    health_timeout: int | None = None,
) -> None:
    invocation: Invocation = resolve(ctx, env, output, root)
    if waves is not None:
        _staged(
            invocation, waves, all_cities=all_cities, city=city, platform=platform,
            changed_since=changed_since, engine=engine, jobs=jobs, summary_md=summary_md,
            show_output=show_output, yes=yes, skip_backup_gate=skip_backup_gate,
            health_timeout=health_timeout,
        )  # fmt: skip
        return
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
    if operation == "up":
        _check_skip_gate(stacks, skip_backup_gate, yes)
    if operation in {"up", "destroy"}:
        confirm(stacks, operation, yes)
    real = pulumi_engine(invocation, show_output)
    upgrade_up = _upgrade_up(invocation, real, skip_backup_gate, health=False)

    def action(stack: StackRef) -> tuple[PreviewResult, Any]:
        if operation == "up":
            return upgrade_up(stack)
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
        upgrades=upgrade_lines_of(upgrade_up) if operation == "up" else None,
    )


def upgrade_lines_of(action: UpgradeAwareUp) -> Callable[[Outcome], list[str]]:
    """The version changes, rollout and backup gate of one city's ``up``, also when it
    failed (the version changes it was applying)."""

    def lines(outcome: Outcome) -> list[str]:
        return upgrade_lines(outcome.extra or action.rollouts.get(outcome.stack))

    return lines


def upgrade_lines(rollout: Any) -> list[str]:
    if rollout is None or not hasattr(rollout, "plan"):
        return []
    lines: list[str] = rollout.plan.lines()
    if rollout.gate:
        lines.append(f"backup gate: {rollout.gate}")
    if rollout.health is not None and rollout.health.healthy:
        lines.append(f"health gate: healthy (Keycloak {rollout.health.version})")
    return lines


def _check_skip_gate(stacks: list[StackRef], skip: bool, yes: bool) -> None:
    if not skip:
        return
    prod = [s.label for s in stacks if s.env in PROTECTED_ENVS]
    if prod and not yes:
        error(
            f"--skip-backup-gate in prod ({', '.join(prod)}) needs --yes as well: an upgrade "
            "without a fresh backup cannot be undone; nothing was changed"
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    error(
        "WARNING: --skip-backup-gate: upgrades and database replacements are applied "
        "WITHOUT checking for a fresh backup"
    )


def _upgrade_up(invocation: Invocation, real: Any, skip: bool, *, health: bool,
                health_timeout: int | None = None) -> UpgradeAwareUp:  # fmt: skip
    from ociam.upgrades.rollout import UpgradeAwareUp

    return UpgradeAwareUp(
        invocation.root, real, skip_backup_gate=skip, health_gate=health,
        health_timeout=health_timeout, warn=error,
    )  # fmt: skip


def _staged(
    invocation: Invocation,
    spec: str,
    *,
    all_cities: bool,
    city: str | None,
    platform: bool,
    changed_since: str | None,
    engine: EngineName,
    jobs: int,
    summary_md: Path | None,
    show_output: bool,
    yes: bool,
    skip_backup_gate: bool,
    health_timeout: int | None,
) -> None:
    """``up --waves``: wave by wave, each city health-gated, stop at the first failure."""
    from ociam.commands.common import load_catalog
    from ociam.engines.base import StackRef
    from ociam.upgrades.staged import city_versions, run_waves, running_version, version_lines
    from ociam.upgrades.waves import WaveError, parse_spec, resolve

    if city is not None or changed_since is not None:
        error("--waves selects the cities itself (with --all for a rest wave): drop --city "
              "and --changed-since")  # fmt: skip
        raise typer.Exit(EXIT_BAD_INPUT)
    catalog = load_catalog(invocation)
    known = list(catalog.cities)
    try:
        waves = resolve(
            parse_spec(spec, catalog.settings.upgrades.waves),
            known,
            known if all_cities else None,
        )
    except WaveError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_BAD_INPUT) from None
    choose_engine(engine, "up")
    stacks = [StackRef(invocation.env, c) for w in waves for c in w.cities]
    _check_skip_gate(stacks, skip_backup_gate, yes)
    confirm(stacks, "up", yes)
    real = pulumi_engine(invocation, show_output)
    action = _upgrade_up(invocation, real, skip_backup_gate, health=True,
                         health_timeout=health_timeout)  # fmt: skip

    def runner(selected: list[StackRef], done: Any) -> list[Outcome]:
        return run_waves(
            waves, invocation.env, action=action, jobs=jobs, on_done=done, on_wave=info,
            platform=platform,
        )  # fmt: skip

    def epilogue(outcomes: list[Outcome]) -> list[str]:
        from ociam.engines.base import EngineError
        from ociam.kube import KubeError

        def version(slug: str) -> str:
            try:
                return running_version(action.client(), f"iam-{slug}")
            except (KubeError, EngineError):  # the summary must still be written
                return "unknown (cluster not readable)"

        rows = city_versions(waves, invocation.env, outcomes, version)
        return ["rollout:", *version_lines(rows)]

    run_and_report(
        invocation,
        stacks,
        "up",
        "pulumi",
        action,
        jobs=jobs,
        summary_md=summary_md,
        details=change_lines,
        upgrades=upgrade_lines_of(action),
        runner=runner,
        epilogue=epilogue,
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
    skip_backup_gate: SkipGateOption = False,
    waves: WavesOption = None,
    health_timeout: HealthTimeoutOption = None,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Deploy stacks with the Pulumi CLI: the platform stack first, then cities.

    Refuses (per city, nothing applied) a Keycloak or PostgreSQL version change, or the
    switch to an external database (which deletes the CloudNativePG Cluster), when the
    city's last completed backup is older than upgrades.backup_max_age_hours (`ociam
    backup` takes one). Other replacements or deletions of the database Cluster are not
    gated; outside dev the Cluster is protected in the Pulumi state
    (pulumi.protect_databases), so `up` fails on them. A city already on an external
    database is not gated (ociam sees none of its backups; said loudly). A Keycloak
    version change rolls only when `kc.sh update-compatibility` allows it, else it is
    recreated.

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
        skip_backup_gate=skip_backup_gate,
        waves=waves,
        health_timeout=health_timeout,
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
