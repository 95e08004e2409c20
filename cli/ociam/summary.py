"""The Markdown summary of a multi-stack run (``--summary-md FILE``), fit for a PR comment.

Per stack: creates, updates, deletes and replaces; every replaced or deleted
resource named with the properties that force a replacement; a database
replaced or deleted is called out at the top, since it loses data. The first
line is a marker, so CI can update its earlier comment instead of adding one.
Nothing secret is in it: results carry ``<secret>`` in place of secret values,
and only names, types, property paths and realm settings (secret-looking keys
redacted, `ociam.realm_diff`) are written.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ociam.engines.base import ResourceStep
from ociam.stackrun import CHANGE_OPS, Operation, Outcome

MARKER = "<!-- ociam-summary -->"
_TITLE = {"preview": "preview", "up": "deploy", "destroy": "destroy", "refresh": "refresh"}
_ICON = {"ok": "✅", "failed": "❌", "refused": "⛔", "skipped": "⏭️"}


def _code(text: str) -> str:
    return "`" + text.replace("`", "'") + "`"


def _kind(step: ResourceStep) -> str:
    """``kubernetes:postgresql.cnpg.io/v1:Cluster`` → ``postgresql.cnpg.io/v1 Cluster``."""
    parts = step.type.split(":")
    if len(parts) == 3 and parts[0] == "kubernetes":
        group, kind = parts[1], parts[2]
        return f"{group.removeprefix('core/')} {kind}"
    return step.type


def _step_line(step: ResourceStep) -> str:
    line = f"- {_code(step.name)} ({_kind(step)})"
    if step.replace_reasons:
        line += " because of " + ", ".join(_code(r) for r in step.replace_reasons)
    return line


def render_summary(
    outcomes: Sequence[Outcome],
    operation: Operation,
    engine: str,
    notes: Sequence[str] = (),
    realm_changes: Mapping[str, Sequence[str]] | None = None,
    *,
    upgrades: Mapping[str, Sequence[str]] | None = None,
    rollout: Sequence[str] = (),
) -> str:
    """The summary; ``realm_changes`` (stack label → lines) lists, per city, the realm
    settings a change alters, which the engine only sees as a replaced ConfigMap and Job."""
    realm_changes = realm_changes or {}
    upgrades = upgrades or {}
    lines = [MARKER, f"## ociam {_TITLE[operation]}: {len(outcomes)} stack(s), {engine} engine", ""]
    lines += [f"> {note}" for note in notes]
    if notes:
        lines.append("")
    losses = [(o, s) for o in outcomes for s in o.data_loss]
    for outcome, step in losses:
        lines.append(
            f"> [!CAUTION]\n> **Database {'replaced' if step.op == 'replace' else 'deleted'}** "
            f"in {_code(outcome.stack.label)}: {_code(step.name)} ({_kind(step)})"
            + (
                " because of " + ", ".join(_code(r) for r in step.replace_reasons)
                if step.replace_reasons
                else ""
            )
            + ". Its data is lost unless restored from backup."
        )
        lines.append("")
    changed = {label: u for label, u in upgrades.items() if u}
    if changed:
        lines.append("**Version changes:**")
        lines.append("")
        lines.append("| stack | change |")
        lines.append("|---|---|")
        for label, entries in sorted(changed.items()):
            for entry in entries:
                lines.append(f"| {_code(label)} | {entry.replace('|', '/')} |")
        lines.append("")
        if any("OUTAGE" in e for entries in changed.values() for e in entries):
            lines.append(
                "> [!WARNING]\n> A Keycloak version change here cannot roll: the city's "
                "Keycloak is recreated and **unavailable** until its new pods are ready."
            )
            lines.append("")
    if rollout:
        lines.append("**Staged rollout (wave, stack, result, Keycloak version running):**")
        lines.append("")
        lines.append("```")
        lines.extend(rollout)
        lines.append("```")
        lines.append("")
    if not outcomes:
        lines.append("No stack is affected.")
        return "\n".join(lines) + "\n"
    lines.append("| stack | result | create | update | replace | delete | unchanged |")
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for outcome in outcomes:
        counts = outcome.counts
        cells = [str(counts.get(op, 0)) if outcome.result else "" for op in CHANGE_OPS]
        same = str(counts.get("same", 0)) if outcome.result else ""
        lines.append(
            f"| {_code(outcome.stack.label)} | {_ICON[outcome.status]} {outcome.status} | "
            + " | ".join(cells)
            + f" | {same} |"
        )
    lines.append("")
    for outcome in outcomes:
        details: list[str] = []
        if outcome.status != "ok":
            details.append("```\n" + outcome.error.replace("```", "'''") + "\n```")
        for op, title in (("replace", "Replaced"), ("delete", "Deleted")):
            steps = [s for s in outcome.changed(op) if s.custom]
            if steps:
                details.append(f"**{title}:**")
                details.extend(_step_line(s) for s in steps)
        if realm_changes.get(outcome.stack.label):
            details.append("**Realm changes:**")
            details.extend(f"- {_code(line)}" for line in realm_changes[outcome.stack.label])
        if outcome.result and outcome.result.diagnostics:
            details.append("**Diagnostics:**")
            details.extend(f"- {d.splitlines()[0]}" for d in outcome.result.diagnostics)
        if details:
            lines.append(f"### {outcome.stack.label}")
            lines.append("")
            lines.extend(details)
            lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"
