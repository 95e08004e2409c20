"""``ociam backup``: an on-demand CloudNativePG Backup of a city's database (Barman Cloud
plugin), waited for; ``ociam restore-drill``: restore it into a scratch namespace."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ociam.console import EXIT_BAD_INPUT, EXIT_FAILURE, error, info
from ociam.options import CityOption, EnvOption, OutputOption, RootOption, resolve

if TYPE_CHECKING:
    from ociam.catalog import CityConfig
    from ociam.kube import KubeClient
    from ociam.options import Invocation

TimeoutOption = Annotated[
    int,
    typer.Option("--timeout", min=1, metavar="SECONDS", help="How long to wait for it"),
]


def _city(
    ctx: typer.Context,
    city: str | None,
    env: Any,
    output: Any,
    root: Any,
    *,
    external_ok: bool = False,
) -> tuple[Invocation, CityConfig]:
    from ociam.commands.common import load_catalog, select_city

    invocation = resolve(ctx, env, output, root)
    if city is None:
        error("give --city CITY")
        raise typer.Exit(EXIT_BAD_INPUT)
    config = select_city(invocation, load_catalog(invocation), city)
    if config.spec.database.external is not None and not external_ok:
        error(f"{config.slug} uses an external database: its backups are not ociam's")
        raise typer.Exit(EXIT_BAD_INPUT)
    return invocation, config


def _client() -> KubeClient:
    from ociam.kube import KubeClient, KubeError

    try:
        return KubeClient.from_kubeconfig()
    except KubeError as exc:
        error(str(exc))
        raise typer.Exit(EXIT_FAILURE) from None


def backup(
    ctx: typer.Context,
    city: CityOption = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until it completed")] = True,
    timeout: TimeoutOption = 3600,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """Take an on-demand backup of a city's database now (CloudNativePG Backup, method
    plugin, Barman Cloud) in the cluster of the kubeconfig, and wait for it.

    The backup gate of `ociam up` counts it once it completed. Exit 0 when it completed,
    1 when it failed or did not complete within --timeout, 2 for bad input.
    """
    from datetime import UTC, datetime, timedelta

    from ociam.kube import KubeError
    from ociam.upgrades.backup import (
        API_VERSION,
        PLURAL,
        BackupFailed,
        age_text,
        on_demand_backup,
        wait_for_backup,
    )

    invocation, config = _city(ctx, city, env, output, root, external_ok=True)
    client = _client()
    if config.spec.database.external is not None:
        _still_on_cloudnative_pg(client, invocation.env, config)
    now = datetime.now(UTC)
    labels = {"ociam.fi/city": config.slug, "ociam.fi/backup": "on-demand"}
    obj = on_demand_backup(config.namespace, now, labels)
    name = obj["metadata"]["name"]
    try:
        client.create(API_VERSION, PLURAL, config.namespace, obj)
        info(f"{invocation.env}-{config.slug}: Backup {config.namespace}/{name} created")
        if not wait:
            return
        record = wait_for_backup(
            client,
            config.namespace,
            name,
            timeout=timeout,
            on_phase=lambda phase: info(f"  {name}: {phase}"),
        )
    except KubeError as exc:
        error(f"{invocation.env}-{config.slug}: {exc}")
        raise typer.Exit(EXIT_FAILURE) from None
    except BackupFailed as exc:
        error(f"{invocation.env}-{config.slug}: {exc}")
        raise typer.Exit(EXIT_FAILURE) from None
    took = age_text(max((record.stopped_at or now) - now, timedelta(0)))
    typer.echo(f"ok       {invocation.env}-{config.slug:<18} Backup {name} completed ({took})")


def _still_on_cloudnative_pg(client: KubeClient, env: str, config: CityConfig) -> None:
    """A city the catalog moves to an external database still has its CloudNativePG
    Cluster until ``ociam up`` deletes it: that is what the backup gate wants backed up."""
    from ociam.components.database import CLUSTER_NAME
    from ociam.kube import KubeError

    try:
        cluster = client.get("postgresql.cnpg.io/v1", "clusters", CLUSTER_NAME, config.namespace)
    except KubeError as exc:
        error(f"{env}-{config.slug}: {exc}")
        raise typer.Exit(EXIT_FAILURE) from None
    if cluster is None:
        error(
            f"{env}-{config.slug} uses an external database and has no CloudNativePG Cluster "
            f"{config.namespace}/{CLUSTER_NAME}: its backups are its operator's duty, not ociam's"
        )
        raise typer.Exit(EXIT_BAD_INPUT)
    info(
        f"{env}-{config.slug}: the catalog moves it to an external database; its Cluster "
        f"{CLUSTER_NAME} still runs and is backed up before `ociam up` deletes it"
    )


def restore_drill(
    ctx: typer.Context,
    city: CityOption = None,
    render_only: Annotated[
        bool, typer.Option("--render", help="Print the drill's manifests; create nothing")
    ] = False,
    keep: Annotated[
        bool, typer.Option("--keep", help="Leave the scratch namespace for inspection")
    ] = False,
    timeout: TimeoutOption = 3600,
    env: EnvOption = None,
    output: OutputOption = None,
    root: RootOption = None,
) -> None:
    """The monthly restore drill: a CloudNativePG Cluster recovering the city's database
    from its object store into a scratch namespace (with the NetworkPolicies it needs),
    waited for until healthy, then removed. Exit 0 when the restore became healthy."""
    import yaml

    from ociam.kube import KubeError
    from ociam.upgrades.restore_drill import DrillFailed, drill_objects, run_drill

    _, config = _city(ctx, city, env, output, root)
    objects = drill_objects(config)
    if render_only:
        typer.echo(yaml.safe_dump_all(objects, sort_keys=False), nl=False)
        return
    client = _client()
    try:
        result = run_drill(client, config, objects, timeout=timeout, keep=keep, say=info)
    except (KubeError, DrillFailed) as exc:
        error(f"{config.env}-{config.slug}: restore drill FAILED: {exc}")
        raise typer.Exit(EXIT_FAILURE) from None
    typer.echo(f"ok       {config.env}-{config.slug:<18} restore drill: {result}")
