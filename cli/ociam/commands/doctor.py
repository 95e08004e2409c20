"""``ociam doctor``: check prerequisites and say how to install what is missing."""

from __future__ import annotations

import typer

from ociam.console import EXIT_FAILURE, EXIT_OK, print_json, print_table
from ociam.options import EnvOption, OutputOption, resolve


def doctor(ctx: typer.Context, env: EnvOption = None, output: OutputOption = None) -> None:
    """Check what ociam needs: for a real deploy (--engine pulumi) the Pulumi CLI (not
    older than the Python pulumi SDK), each resource plugin at exactly the version its
    SDK declares (pulumi plugin ls; PULUMI_HOME), the kubeconfig's current context
    answering, and every kind the environment's city stacks create served by that
    cluster (CRDs); also the stack passphrase, Ansible, podman, runc and Molecule.

    Exit code 1 when something required is missing (status "missing": an old CLI, a
    plugin not installed or at another version, an unreachable context, a kind the
    cluster does not serve); warnings (for example no Pulumi CLI: the offline engine
    still works) keep exit code 0.
    """
    from ociam.doctor import Status, run_checks

    invocation = resolve(ctx, env, output, None)
    checks = run_checks(root=invocation.root, env=invocation.env)
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
