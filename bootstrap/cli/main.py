"""`qrun`. Every command finds the database the same way: --db, else $QRUN_DATABASE_URL,
else ./qrun.db. Exit codes: 0 done, 1 refused (the message says why: bad input or
configuration, no such job, a conflict, the database unreachable), 2 bad usage (click's),
124 a wait that timed out (`qrun.bootstrap.refusals`)."""

from __future__ import annotations

import sys

import click

from qrun.core.errors import QrunError

from ..wiring import without_password
from . import batches, daemon, jobs, listing, queues, workflows
from .common import refused


class Group(click.Group):
    """Every refusal a command prints is masked (R-I2): a message built from a database
    URL, by qrun or by a library, never shows its password. A refusal no command caught
    itself is reported the same way as one it did."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            try:
                return super().invoke(ctx)
            except QrunError as exc:
                raise refused(exc) from None
        except click.ClickException as exc:
            setattr(exc, "message", without_password(exc.message))  # noqa: B010 - typeshed calls it Final
            raise


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="qrun", prog_name="qrun")
@click.option(
    "--db",
    envvar=None,
    default=None,
    help="SQLite file or postgresql:// URL (default: $QRUN_DATABASE_URL, else ./qrun.db)",
)
@click.option("--config", "config_file", default=None, help="a TOML file of settings (default: $QRUN_CONFIG)")
@click.option(
    "--app",
    "app_ref",
    default=None,
    metavar="MODULE:ATTR",
    help="your application's App, e.g. tasks:app: its tasks, workflows and schedules (default: $QRUN_APP)",
)
@click.pass_context
def main(ctx: click.Context, db: str | None, config_file: str | None, app_ref: str | None) -> None:
    """qrun: durable job execution."""
    ctx.obj = {"db": db, "config": config_file, "app": app_ref}


for command in (
    daemon.migrate,
    daemon.serve,
    jobs.submit,
    jobs.run_now,
    listing.ls,
    listing.show,
    listing.logs,
    jobs.cancel,
    jobs.retry,
    jobs.wait,
    queues.pause,
    queues.resume,
    queues.queues,
    queues.daemons,
    queues.schedules,
    queues.prune,
    queues.doctor,
    batches.batch,
    batches.pools,
    workflows.workflows,
    workflows.sessions,
    workflows.workflow,
    workflows.publish,
    workflows.events,
):
    main.add_command(command)

if __name__ == "__main__":
    sys.exit(main())
