"""The daemon (`serve`) and the schema (`migrate`)."""

from __future__ import annotations

import click

from qrun.core.errors import QrunError

from ..config import load
from ..logs import configure as configure_logging
from ..wiring import become_daemon, without_password
from ..wiring import migrate as migrate_schema
from .common import REFUSED, app_for


@click.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or update the database schema, and declare the configured pools."""
    try:
        config = load(ctx.obj["config"], database_url=ctx.obj["db"])
        migrate_schema(config)
    except REFUSED as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"schema is current in {without_password(config.database.url)}", err=True)


@click.command()
@click.option("--slots", default=None, type=click.IntRange(1, 10_000), help="runs at once (default 32)")
@click.option("--queues", default=None, help="serve only these queues, e.g. mail,reports (default: all)")
@click.option(
    "--name",
    "worker_name",
    default=None,
    help="this daemon's name: one live daemon per name; a restart under it on this host recovers its jobs",
)
@click.option("--burst", is_flag=True, help="exit once nothing is left to start and nothing runs")
@click.option("--app", "app_ref", default=None, metavar="MODULE:ATTR", help="your App, e.g. tasks:app")
@click.option("--log-json", is_flag=True, help="log JSON lines even on a terminal (the default elsewhere)")
@click.pass_context
def serve(
    ctx: click.Context,
    slots: int | None,
    queues: str | None,
    worker_name: str | None,
    burst: bool,
    app_ref: str | None,
    log_json: bool,
) -> None:
    """Run jobs until SIGTERM/SIGINT, then drain: the worker, the reaper that recovers
    dead workers' jobs, schedules and workflows. With --app, your application's tasks."""
    configure_logging(as_json=True if log_json else None)
    become_daemon()  # the jobs it starts run as its user: they cannot read its memory
    if app_ref:
        ctx.obj["app"] = app_ref
    app = app_for(ctx, create=True, wait=True, slots=slots, worker_name=worker_name, queues=queues)
    click.echo(f"qrun serving {without_password(app.config.database.url)} as {app.worker.id}", err=True)
    try:
        app.serve(burst=burst)
    except QrunError as exc:  # another live daemon has this name (R-G1), the port is taken, ...
        raise click.ClickException(str(exc)) from None
