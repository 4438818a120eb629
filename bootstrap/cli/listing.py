"""Looking at jobs: `ls` (newest first), `show` (readable, or --json) and `logs`."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from qrun.core import Status
from qrun.core.ports import JobFilter

from ..views import job_view
from .common import REFUSED, app_for, refused


@click.command(name="ls")
@click.option(
    "--status", type=click.Choice([s.value for s in Status]), default=None, help="only jobs in this state"
)
@click.option("--queue", default=None, help="only jobs of this queue")
@click.option("--kind", default=None, help="only jobs of this kind: command, container or a task's name")
@click.option("--limit", default=50, type=click.IntRange(1, 100_000), help="how many to list (default 50)")
@click.option("--oldest-first", is_flag=True, help="the oldest submitted first (default: the newest)")
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts")
@click.pass_context
def ls(
    ctx: click.Context,
    status: str | None,
    queue: str | None,
    kind: str | None,
    limit: int,
    oldest_first: bool,
    as_json: bool,
) -> None:
    """List jobs, the newest submitted first (by submit time, then id). A queued job
    that cannot run now is marked `queued*`, with why (all reasons: `qrun show ID`)."""
    where = JobFilter(
        status=Status(status) if status else None,
        queue=queue,
        kind=kind,
        limit=limit,
        newest_first=not oldest_first,
        oldest_first=oldest_first,
    )
    app = app_for(ctx)
    try:
        jobs = app.jobs(where)
        waiting = app.waiting_page(jobs)  # why each queued job of the page waits
    except REFUSED as exc:
        raise refused(exc) from None
    if as_json:
        click.echo(json.dumps([{**job_view(j), "waiting": list(waiting[j.id])} for j in jobs], indent=2))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    last = "error, or why it waits"
    for column in ("id", "status", "queue", "kind", "attempts", "submitted", last):
        table.add_column(column, overflow="fold" if column == "id" else "ellipsis", no_wrap=column != last)
    for j in jobs:
        error = ((j.error or "").splitlines()[0] if j.error else "")[:60]
        why = waiting[j.id]
        if (
            why and j.status is Status.QUEUED
        ):  # blocked: the first reason; all, with what to do, in `qrun show`
            error = f"waiting: {why[0].split(': `')[0]}" + (
                f" (+{len(why) - 1} more)" if len(why) > 1 else ""
            )
        table.add_row(
            j.id,
            f"{j.status.value}*" if why and j.status is Status.QUEUED else j.status.value,
            j.queue,
            j.kind,
            f"{j.attempts}/{j.max_attempts}",
            f"{j.requested_at:%Y-%m-%d %H:%M:%S}",
            error,
        )
    Console(width=None if sys.stdout.isatty() else 200).print(table)


@click.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True, help="the whole job as JSON, for scripts")
@click.pass_context
def show(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """Show one job: its state, its times, its error (a task's traceback included)."""
    app = app_for(ctx)
    job = app.job(job_id)
    if job is None:
        raise click.ClickException(f"no job {job_id}")
    view = {**job_view(job), "waiting": list(app.waiting(job))}
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    error = view.pop("error")
    view.pop("history")
    for reason in view.pop("waiting"):
        click.echo(f"{'waiting':18} {reason}")
    for key, value in view.items():
        if value in (None, [], {}, ()) and key not in ("result",):
            continue
        click.echo(f"{key:18} {_plain(value)}")
    if job.history:
        click.echo("timeline")
        for s in job.history:
            who = f" by {s.worker}" if s.worker else ""
            note = f": {s.note}" if s.note else ""
            to = f"{s.event} -> {s.status.value}, attempt {s.attempt}"
            click.echo(f"  {s.at:%Y-%m-%d %H:%M:%S.%f}  {to}{who}{note}")
    if error:
        click.echo(f"error\n{error}")


def _plain(value: Any) -> str:
    return json.dumps(value) if isinstance(value, dict | list) else str(value)


@click.command()
@click.argument("job_id")
@click.option("--follow", "-f", is_flag=True, help="keep printing until the job ends")
@click.pass_context
def logs(ctx: click.Context, job_id: str, follow: bool) -> None:
    """What a command or container job wrote: stdout here, stderr on stderr. A command's
    output lives in its run folder (runs_dir/<job>/<run>/stdout and stderr) on the host
    that ran it."""
    app = app_for(ctx)
    shown = [0, 0]
    while True:
        try:
            out, err = app.logs(job_id)
        except REFUSED as exc:
            raise refused(exc) from None
        sys.stdout.buffer.write(out[shown[0] :])
        sys.stderr.buffer.write(err[shown[1] :])
        sys.stdout.flush()
        shown = [len(out), len(err)]
        job = app.job(job_id)
        if not follow or job is None or job.status.terminal:
            return
        time.sleep(0.5)
