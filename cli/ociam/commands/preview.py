"""``ociam preview``: what stacks would change, with the real engine or offline."""

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
from ociam.console import EXIT_BAD_INPUT, error, format_table
from ociam.options import CityOption, EnvOption, OutputOption, RootOption, resolve

if TYPE_CHECKING:
    from ociam.engines.base import PreviewResult, StackRef
    from ociam.stackrun import Outcome

__all__ = ["EngineName", "preview"]


def preview(
    ctx: typer.Context,
    city: CityOption = None,
    all_cities: AllOption = False,
    platform: PlatformOption = False,
    changed_since: ChangedSinceOption = None,
    engine: EngineOption = EngineName.auto,
    jobs: JobsOption = 4,
    summary_md: SummaryOption = None,
    against: Annotated[
        Path | None,
        typer.Option(
            "--against",
            exists=True,
            file_okay=False,
            help="Offline engine: a previous render directory (`ociam render --out`) to diff with",
        ),
    ] = None,
    names: Annotated[
        bool, typer.Option("--names/--no-names", help="List each object's name (offline)")
    ] = True,
    show_output: ShowOutputOption = False,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Show what stacks would change: one result line per stack.

    With the Pulumi engine: every resource the stack's update would create,
    update, replace or delete, from its state. Offline: the objects the program
    would create, by kind (with --against DIR, the difference to that earlier
    render). Exit code 0 when every stack previewed, 1 when any failed.
    """
    invocation = resolve(ctx, env, output, root)
    stacks = select_stacks(
        invocation,
        city=city,
        all_cities=all_cities,
        platform=platform,
        changed_since=changed_since,
        env_given=env is not None,
    )
    chosen = choose_engine(engine, "preview")
    review = None
    if changed_since is not None:
        from ociam.realm_review import review as review_realms

        review = review_realms(invocation.root, changed_since, stacks)
    from ociam.upgrades.review import VersionReview

    versions = VersionReview(invocation.root)
    if chosen == "pulumi":
        if against is not None:
            error("--against compares offline renders: use it with --engine offline")
            raise typer.Exit(EXIT_BAD_INPUT)
        real = pulumi_engine(invocation, show_output)
        if changed_since is not None:
            versions.charts_from_revision(changed_since, stacks)

        def run_real(stack: StackRef) -> tuple[PreviewResult, Any]:
            versions.from_state(real, stack)  # what the stack runs, from its state
            return real.preview(stack), None

        run_and_report(
            invocation,
            stacks,
            "preview",
            "pulumi",
            run_real,
            jobs=jobs,
            summary_md=summary_md,
            details=change_lines,
            review=review,
            upgrades=versions.lines,
        )
    if changed_since is not None:
        versions.from_revision(changed_since, stacks)
    offline = _Offline(invocation.root, against, names)
    run_and_report(
        invocation,
        stacks,
        "preview",
        "offline",
        offline.run,
        jobs=1,
        summary_md=summary_md,
        details=offline.details,
        entry=offline.entry,
        review=review,
        upgrades=versions.lines,
    )


class _Offline:
    """The offline preview: render each stack, list its objects, diff with --against."""

    def __init__(self, root: Path, against: Path | None, names: bool) -> None:
        from ociam.engines.offline import OfflineEngine

        self.root = root
        self.engine = OfflineEngine(root)
        self.against = against
        self.names = names

    def run(self, stack: StackRef) -> tuple[PreviewResult, Any]:
        from ociam.catalog import CatalogError
        from ociam.components.program import load_city
        from ociam.engines.base import EngineError
        from ociam.render.output import city_dir, diff_render, read_render
        from ociam.render.platform import platform_dir, render_platform
        from ociam.render.service import render_city

        if stack.is_platform:
            rendered: Any = render_platform(self.engine, self.root, stack.env)
            directory = platform_dir(self.against or self.root, stack.env)
        else:
            try:
                config = load_city(self.root, stack)
            except CatalogError as exc:
                raise EngineError(f"{stack.label}: {exc}") from exc
            rendered = render_city(self.engine, config)
            directory = city_dir(self.against or self.root, stack.env, stack.city)
        diff = None
        if self.against is not None:
            diff = diff_render(read_render(directory), rendered.files, stack.label)
        return rendered.result, (rendered, diff)

    def entry(self, outcome: Outcome) -> dict[str, Any]:
        rendered, diff = outcome.extra
        kinds = rendered.kinds()
        data: dict[str, Any] = {
            "kinds": {kind: len(ids) for kind, ids in kinds.items()},
            "objects": [i for ids in kinds.values() for i in ids],
            "components": sorted(
                s.type for s in outcome.result.steps if s.type.startswith("ociam:")
            )
            if outcome.result
            else [],
        }
        if diff is not None:
            data["diff"] = {
                "added": list(diff.added),
                "removed": list(diff.removed),
                "changed": list(diff.changed),
                "text": diff.text,
            }
        return data

    def details(self, outcome: Outcome) -> list[str]:
        rendered, diff = outcome.extra
        kinds = rendered.kinds()
        total = sum(len(ids) for ids in kinds.values())
        steps = len(outcome.result.steps) if outcome.result else 0
        lines = [
            f"{outcome.stack.label} (offline engine): {total} Kubernetes objects to create, "
            f"{steps} resources in all"
        ]
        rows = [
            [kind, len(ids), ", ".join(i.rsplit("/", 1)[-1] for i in ids)][: 3 if self.names else 2]
            for kind, ids in kinds.items()
        ]
        headers = ["KIND", "COUNT", "NAMES"] if self.names else ["KIND", "COUNT"]
        lines += format_table(headers, rows).splitlines()
        lines += getattr(rendered, "notes", [])
        if diff is not None:
            lines.append(
                f"against {self.against}: {len(diff.added)} added, {len(diff.removed)} removed, "
                f"{len(diff.changed)} changed"
            )
            if diff.text:
                lines.extend(diff.text.rstrip("\n").splitlines())
        lines.append("")
        return lines
