"""``ociam doctor``: check prerequisites and say how to install what is missing."""

from __future__ import annotations

import typer

from ociam.console import EXIT_FAILURE, EXIT_OK, print_json, print_table
from ociam.options import OutputOption, resolve


def doctor(ctx: typer.Context, output: OutputOption = None) -> None:
    """Check the tools ociam uses (Pulumi CLI, kubeconfig, passphrase, Ansible, podman).

    Exit code 1 when something required is missing; warnings (for example no
    Pulumi CLI: the offline engine still works) keep exit code 0.
    """
    from ociam.doctor import Status, run_checks

    invocation = resolve(ctx, None, output, None)
    checks = run_checks()
    missing = [c for c in checks if c.status is Status.MISSING]
    if invocation.json:
        print_json(
            {
                "ok": not missing,
                "checks": [
                    {
                        "name": c.name,
                        "status": str(c.status),
                        "detail": c.detail,
                        "fix": c.fix,
                        "needed_for": c.needed_for,
                    }
                    for c in checks
                ],
            }
        )
    else:
        print_table(
            ["CHECK", "STATUS", "DETAIL", "NEEDED FOR"],
            [[c.name, str(c.status), c.detail, c.needed_for] for c in checks],
        )
        for check in checks:
            if check.status is not Status.OK and check.fix:
                typer.echo(f"{check.name}: {check.fix}")
    raise typer.Exit(EXIT_FAILURE if missing else EXIT_OK)
