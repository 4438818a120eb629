"""Queues, schedules, retention and the doctor."""

from __future__ import annotations

import json

import click

from ..wiring import without_password
from .common import app_for


@click.command()
@click.argument("queue")
@click.pass_context
def pause(ctx: click.Context, queue: str) -> None:
    """Pause a queue: its jobs stay, none is handed out until `qrun resume`."""
    app_for(ctx).pause_queue(queue)
    click.echo(f"queue {queue} paused", err=True)


@click.command()
@click.argument("queue")
@click.pass_context
def resume(ctx: click.Context, queue: str) -> None:
    """Resume a paused queue."""
    app_for(ctx).resume_queue(queue)
    click.echo(f"queue {queue} resumed", err=True)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts")
@click.pass_context
def queues(ctx: click.Context, as_json: bool) -> None:
    """Queues with their job counts per status, and whether each is paused."""
    view = app_for(ctx).queues()
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    for name, q in view.items():
        counts = "  ".join(f"{k}={v}" for k, v in sorted(q["counts"].items()))
        click.echo(f"{name:12} {'paused' if q['paused'] else 'active':7} {counts}")


@click.command()
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts")
@click.pass_context
def daemons(ctx: click.Context, as_json: bool) -> None:
    """Live daemons on every host sharing the database, with their slots in use."""
    view = app_for(ctx).daemons()
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    if not view:
        click.echo("no daemon has reported in the last three reaper intervals", err=True)
    for d in view:
        queues = ",".join(d["queues"]) if d["queues"] else "all queues"
        click.echo(
            f"{d['name']:20} {d['host']}:{d['pid']:<8} {d['running']}/{d['slots']} slots  {queues}  "
            f"reported {d['seen_s_ago']}s ago"
        )


@click.command()
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts")
@click.pass_context
def schedules(ctx: click.Context, as_json: bool) -> None:
    """Periodic jobs, declared in the configuration or (with --app) in code, with each
    one's next three slots (UTC): what its cron means."""
    view = app_for(ctx).schedules()
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    if not view:
        click.echo(
            "no schedules in the configuration; those your code declares show with --app MODULE:ATTR",
            err=True,
        )
    for s in view:
        cron = s["cron"] + (f" seconds={s['seconds']}" if s["seconds"] is not None else "")
        click.echo(f"{s['name']:16} {cron:16} next {', '.join(s['next'])}  {s['kind']} {s['payload']}")


@click.command()
@click.option("--dry-run", is_flag=True, help="count what retention would prune, delete nothing")
@click.pass_context
def prune(ctx: click.Context, dry_run: bool) -> None:
    """Delete finished jobs past retention (retention_*_s) now, in bounded batches."""
    app = app_for(ctx)
    if dry_run:
        n = app.past_retention()
        click.echo(f"{n} finished job(s) are past retention (those others depend on are kept)")
        return
    click.echo(f"pruned {app.prune(max_batches=1_000_000)} finished job(s)")


@click.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check the database, its schema and the jobs in it; exit 1 if anything needs care."""
    app = app_for(ctx)  # opening the store checks the database and the schema version
    total, findings = app.doctor()
    click.echo(
        f"database {without_password(app.config.database.url)}: reachable, schema current, {total} job(s)"
    )
    for f in findings:
        click.echo(f"{f.job_id}: {f.problem} -> {f.fix}")
    click.echo("no problems found" if not findings else f"{len(findings)} problem(s) found", err=True)
    ctx.exit(1 if findings else 0)
