"""The daemon (`serve`) and the schema (`migrate`)."""

from __future__ import annotations

import sys

import click
from qrun.core.errors import QrunError

from ..config import load
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
    click.echo(f"schema is current in {config.database_url}", err=True)


@click.command()
@click.option("--slots", default=None, type=int)
@click.option(
    "--name",
    "worker_name",
    default=None,
    help="this daemon's name: one live daemon per name; a restart under it recovers its jobs at once",
)
@click.option("--burst", is_flag=True, help="exit once nothing is left to start and nothing runs")
@click.pass_context
def serve(ctx: click.Context, slots: int | None, worker_name: str | None, burst: bool) -> None:
    """Run a worker with its reaper and sanitizer until SIGTERM/SIGINT, then drain."""
    import logging

    import structlog

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    structlog.configure(logger_factory=structlog.PrintLoggerFactory(sys.stderr))  # logs on stderr
    app = app_for(ctx, create=True, slots=slots, worker_name=worker_name)
    click.echo(f"qrun serving {app.config.database_url} as {app.worker.id}", err=True)
    try:
        app.serve(burst=burst)
    except QrunError as exc:  # another live daemon has this name (R-G1), the port is taken, ...
        raise click.ClickException(str(exc)) from None
