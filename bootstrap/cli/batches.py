"""`qrun batch ...`, `qrun wait --batch` and `qrun pools` (R-E1, R-E3)."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from qrun.core import BatchSummary, Status
from qrun.core.ports import StoreError

from ..app import App
from ..views import batch_view
from .common import REFUSED, app_for, refused


def _items(source: str) -> list[dict[str, Any]]:
    """Jobs from a JSON array or JSON lines, in a file or on stdin ("-")."""
    try:
        text = sys.stdin.read() if source == "-" else open(source).read()  # noqa: SIM115
    except OSError as exc:
        raise click.UsageError(f"cannot read {source}: {exc.strerror}") from None
    try:
        stripped = text.strip()
        items = (
            json.loads(stripped)
            if stripped.startswith("[")
            else [json.loads(line) for line in stripped.splitlines() if line.strip()]
        )
    except json.JSONDecodeError as exc:
        raise click.UsageError(f"{source}: not a JSON array or JSON lines: {exc}") from None
    out: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        if not isinstance(item, dict):
            raise click.UsageError(f"{source}: item {i} must be a JSON object, got {item!r}")
        if "kind" not in item and ("argv" in item or "shell" in item):
            # A bare command: {"argv": [...]} or {"shell": "..."} with its payload keys.
            options = {k: v for k, v in item.items() if k in _OPTIONS}
            payload = {k: v for k, v in item.items() if k not in _OPTIONS}
            out.append({"kind": "command", "payload": payload, **options})
        else:
            out.append(item)
    return out


_OPTIONS = frozenset(
    {
        "id",
        "queue",
        "priority",
        "max_attempts",
        "pool",
        "depends_on",
        "on_dependency_failure",
        "delay_s",
        "unique_key",
        "unique_finished",
    }
)


def summary_line(s: BatchSummary) -> str:
    counts = "  ".join(f"{st.value}={s.count(st)}" for st in Status if s.count(st))
    line = f"batch {s.batch}: {s.finished}/{s.total} finished  {counts}"
    if s.durations is not None:
        d = s.durations
        line += f"  duration min {d.min_s:.2f}s median {d.median_s:.2f}s max {d.max_s:.2f}s"
        line += f" total {d.total_s:.2f}s"
    return line


def wait_batch(ctx: click.Context, app: App, batch: str, timeout: float | None, interval: float) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    try:
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task(f"batch {batch}", total=None)

            def show(s: BatchSummary) -> None:
                failed = s.count(Status.FAILED) + s.count(Status.CANCELLED)
                note = f"batch {batch} running={s.count(Status.RUNNING)} failed={failed}"
                bar.update(task, total=s.total, completed=s.finished, description=note)

            summary = app.wait_batch(batch, timeout_s=timeout, poll_s=interval, progress=show)
    except REFUSED as exc:
        raise refused(exc) from None
    click.echo(summary_line(summary), err=True)
    if not summary.complete:
        click.echo(f"timed out: {summary.total - summary.finished} job(s) unfinished", err=True)
        ctx.exit(124)
    ctx.exit(0 if summary.succeeded else 1)


@click.group()
def batch() -> None:
    """Batches: many jobs submitted together, summarised and waited on."""


@batch.command(name="submit")
@click.argument("source")
@click.option("--batch", "batch_id", default=None, help="the batch id (default: a new one)")
@click.option("--pool", default=None, help="every job needs a slot of this pool")
@click.option("--queue", default=None, help="the queue of every job that names none")
@click.option("--max-attempts", default=None, type=int, help="the attempts of every job that names none")
@click.pass_context
def submit_batch(
    ctx: click.Context,
    source: str,
    batch_id: str | None,
    pool: str | None,
    queue: str | None,
    max_attempts: int | None,
) -> None:
    """Submit the jobs in SOURCE (a JSON array or JSON lines; "-" for stdin) in one
    transaction, and print the batch id. An item is {"argv": [...]} or {"shell": "..."}
    (a command, with cwd/env/timeout_s) or {"kind": ..., "payload": {...}}, with
    options id, queue, priority, max_attempts, pool, depends_on, on_dependency_failure,
    delay_s."""
    items = _items(source)
    common = {k: v for k, v in {"pool": pool, "queue": queue, "max_attempts": max_attempts}.items() if v}
    app = app_for(ctx, create=True)
    try:
        got = app.submit_batch(items, batch=batch_id, **common)
    except REFUSED as exc:
        raise refused(exc) from None
    click.echo(got)


@batch.command(name="show")
@click.argument("batch_id")
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts")
@click.pass_context
def show_batch(ctx: click.Context, batch_id: str, as_json: bool) -> None:
    """Counts per status and durations (min / median / max / total) of a batch."""
    summary = app_for(ctx).batch(batch_id)
    if summary.total == 0:
        raise click.ClickException(f"batch {batch_id} has no jobs (never submitted, or cleared)")
    click.echo(json.dumps(batch_view(summary), indent=2) if as_json else summary_line(summary))


@batch.command(name="clear")
@click.argument("batch_id")
@click.pass_context
def clear_batch(ctx: click.Context, batch_id: str) -> None:
    """Delete the jobs of a finished batch (refused while any is queued or running)."""
    try:
        n = app_for(ctx).clear_batch(batch_id)
    except StoreError as exc:
        raise refused(exc) from None
    click.echo(f"cleared {n} job(s) of batch {batch_id}", err=True)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="JSON, for scripts")
@click.pass_context
def pools(ctx: click.Context, as_json: bool) -> None:
    """Resource pools: size, slots in use and which job holds each."""
    view = app_for(ctx).pools()
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    for name, p in view.items():
        held = " ".join(f"{slot}:{job}" for slot, job in p["holders"].items()) or "-"
        click.echo(f"{name:12} {p['in_use']}/{p['size']} in use  {held}")
