"""`qrun workflows`, `qrun sessions`, `qrun workflow trigger|pause|resume`, `qrun publish`
and `qrun events` (R-D1..R-D8), all read from and written to the store, so they work
from any host."""

from __future__ import annotations

import json

import click

from qrun.core.topics import EventStatus

from .common import REFUSED, app_for, refused


@click.command(name="workflows")
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts")
@click.pass_context
def workflows(ctx: click.Context, as_json: bool) -> None:
    """Workflows with their status (active, paused, error), sessions and total cost."""
    view = app_for(ctx).workflows_view()
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    for name, w in view.items():
        last = w["last_session"]
        tail = f"last {last['status']} {last['id']}" if last else "never ran"
        line = f"{name:16} {w['status']:7} sessions={w['sessions']} cost={w['cost']:g}  {tail}"
        click.echo(line + (f"  error: {w['error']}" if w["error"] else ""))


@click.command(name="sessions")
@click.argument("workflow")
@click.option("--runs", is_flag=True, help="list each session's handler runs too")
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts")
@click.pass_context
def sessions(ctx: click.Context, workflow: str, runs: bool, as_json: bool) -> None:
    """A workflow's sessions: status, trigger, times, iterations and cost."""
    view = app_for(ctx).sessions(workflow, runs=runs)
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    for s in view:
        click.echo(
            f"{s['id']}  {s['status']:9} {s['trigger']:8} started {s['started_at']}  "
            f"finished {s['finished_at']}  iterations={s['iterations']} cost={s['cost']:g}"
            + (f"  {s['error']}" if s["error"] else "")
        )
        for r in s.get("runs", []):
            cost = "-" if r["cost"] is None else f"{r['cost']:g}"
            click.echo(f"    {r['iteration']:>3} {r['role']:8} {r['handler']:16} {r['status']:6} cost={cost}")


@click.group(name="workflow")
def workflow() -> None:
    """Start, pause or resume a workflow (its handlers live in the serving app)."""


@workflow.command(name="trigger")
@click.argument("name")
@click.pass_context
def trigger(ctx: click.Context, name: str) -> None:
    """Start a session by hand and print its id (the active one's if one runs).
    This also takes a workflow out of error."""
    try:
        click.echo(app_for(ctx).trigger(name))
    except REFUSED as exc:
        raise refused(exc) from None


@workflow.command(name="pause")
@click.argument("name")
@click.pass_context
def pause(ctx: click.Context, name: str) -> None:
    """Its sessions, new or interrupted, wait until `resume`."""
    app_for(ctx).pause_workflow(name)
    click.echo(f"workflow {name} paused", err=True)


@workflow.command(name="resume")
@click.argument("name")
@click.pass_context
def resume(ctx: click.Context, name: str) -> None:
    """Let its sessions run again."""
    app_for(ctx).resume_workflow(name)
    click.echo(f"workflow {name} resumed", err=True)


@click.command(name="publish")
@click.argument("topic")
@click.argument("payload", default="{}")
@click.pass_context
def publish(ctx: click.Context, topic: str, payload: str) -> None:
    """Publish an event (PAYLOAD: a JSON object) on TOPIC and print its id; a serving
    app starts the workflows that run on events of TOPIC."""
    try:
        data = json.loads(payload)
    except json.JSONDecodeError as exc:
        raise click.UsageError(f"PAYLOAD must be a JSON object: {exc}") from None
    if not isinstance(data, dict):
        raise click.UsageError(f"PAYLOAD must be a JSON object, got {payload}")
    try:
        event = app_for(ctx, create=True).publish(topic, data)
    except REFUSED as exc:
        raise refused(exc) from None
    click.echo(event)


@click.command(name="events")
@click.argument("topic")
@click.option(
    "--status",
    type=click.Choice([s.value for s in EventStatus]),
    default=None,
    help="only events in this state",
)
@click.option("--limit", default=100, type=click.IntRange(1, 100_000), help="how many (default 100)")
@click.pass_context
def events(ctx: click.Context, topic: str, status: str | None, limit: int) -> None:
    """The events of TOPIC, oldest first."""
    found = app_for(ctx).events(topic, EventStatus(status) if status else None, limit=limit)
    for e in found:
        note = f"  ({e.note})" if e.note else ""
        click.echo(
            f"{e.id}  {e.status.value:9} deliveries={e.deliveries}  {json.dumps(dict(e.payload))}{note}"
        )
