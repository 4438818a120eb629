"""`qrun workflows`, `qrun sessions`, `qrun workflow trigger|pause|resume`, `qrun publish`
and `qrun events` (R-D1..R-D8), all through the store, so they work from any host."""

from __future__ import annotations

import json

import click
from qrun.adapters.ids import new_id
from qrun.core.topics import EventStatus, TopicEvent
from qrun.core.workflow import Trigger

from .runtime.workflows import session_queue, start_session
from .workflow_views import sessions_view, workflows_view


def register(main: click.Group) -> None:
    from .cli import _app

    @main.command(name="workflows")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_context
    def workflows(ctx: click.Context, as_json: bool) -> None:
        """Workflows with their status (active, paused, error), sessions and total cost."""
        view = workflows_view(_app(ctx).store)
        if as_json:
            click.echo(json.dumps(view, indent=2))
            return
        for name, w in view.items():
            last = w["last_session"]
            tail = f"last {last['status']} {last['id']}" if last else "never ran"
            line = f"{name:16} {w['status']:7} sessions={w['sessions']} cost={w['cost']:g}  {tail}"
            click.echo(line + (f"  error: {w['error']}" if w["error"] else ""))

    @main.command(name="sessions")
    @click.argument("workflow")
    @click.option("--runs", is_flag=True, help="list each session's handler runs too")
    @click.option("--json", "as_json", is_flag=True)
    @click.pass_context
    def sessions(ctx: click.Context, workflow: str, runs: bool, as_json: bool) -> None:
        """A workflow's sessions: status, trigger, times, iterations and cost (R-D2, R-D7)."""
        view = sessions_view(_app(ctx).store, workflow, runs=runs)
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
                click.echo(
                    f"    {r['iteration']:>3} {r['role']:8} {r['handler']:16} {r['status']:6} cost={cost}"
                )

    @main.group(name="workflow")
    def workflow() -> None:
        """Start, pause or resume a workflow (its handlers live in the serving app)."""

    @workflow.command(name="trigger")
    @click.argument("name")
    @click.pass_context
    def trigger(ctx: click.Context, name: str) -> None:
        """Start a session by hand and print its id (the active one's if one runs, R-D6).
        This also takes a workflow out of error."""
        app = _app(ctx)
        app.store.set_workflow_error(name, None, app.clock.now())  # type: ignore[attr-defined]
        click.echo(start_session(app.store, app.clock, name, Trigger.MANUAL))

    @workflow.command(name="pause")
    @click.argument("name")
    @click.pass_context
    def pause(ctx: click.Context, name: str) -> None:
        """Its sessions, new or interrupted, wait until `resume` (R-D8)."""
        _app(ctx).store.pause(session_queue(name))
        click.echo(f"workflow {name} paused", err=True)

    @workflow.command(name="resume")
    @click.argument("name")
    @click.pass_context
    def resume(ctx: click.Context, name: str) -> None:
        _app(ctx).store.resume(session_queue(name))
        click.echo(f"workflow {name} resumed", err=True)

    _register_events(main)


def _register_events(main: click.Group) -> None:
    from .cli import _app

    @main.command(name="publish")
    @click.argument("topic")
    @click.argument("payload", default="{}")
    @click.pass_context
    def publish(ctx: click.Context, topic: str, payload: str) -> None:
        """Publish an event (PAYLOAD: a JSON object) on TOPIC and print its id; a serving
        app starts the workflows that run on events of TOPIC (R-D3)."""
        try:
            data = json.loads(payload)
        except json.JSONDecodeError as exc:
            raise click.UsageError(f"PAYLOAD must be a JSON object: {exc}") from None
        if not isinstance(data, dict):
            raise click.UsageError(f"PAYLOAD must be a JSON object, got {payload}")
        app = _app(ctx, create=True)
        try:
            event = TopicEvent(id=new_id(), topic=topic, payload=data, published_at=app.clock.now())
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        app.store.publish([event])  # type: ignore[attr-defined]
        click.echo(event.id)

    @main.command(name="events")
    @click.argument("topic")
    @click.option("--status", type=click.Choice([s.value for s in EventStatus]), default=None)
    @click.option("--limit", default=100, type=int)
    @click.pass_context
    def events(ctx: click.Context, topic: str, status: str | None, limit: int) -> None:
        """The events of TOPIC, oldest first."""
        found = _app(ctx).store.events(topic, EventStatus(status) if status else None, limit=limit)  # type: ignore[attr-defined]
        for e in found:
            note = f"  ({e.note})" if e.note else ""
            click.echo(
                f"{e.id}  {e.status.value:9} deliveries={e.deliveries}  {json.dumps(dict(e.payload))}{note}"
            )
