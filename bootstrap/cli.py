"""The `qrun` command. Every command finds the database the same way: --db, else
$QRUN_DATABASE_URL, else ./qrun.db. Exit codes: 0 done, 1 refused (the message says
why), 2 bad usage or configuration."""

from __future__ import annotations

import json
import sys
from typing import Any

import click
from qrun.core import Cancel, Retry, Status
from qrun.core.ports import JobFilter, NameTaken, RunnerUnavailable, StoreError

from .app import App, bootstrap, open_store
from .config import ConfigError, load
from .views import job_view, queues_view, schedules_view


def _app(ctx: click.Context, *, create: bool = False, **settings: Any) -> App:
    """The app for this invocation. `create`: make the embedded SQLite file if it is not
    there yet (a PostgreSQL schema is only ever made by `qrun migrate`)."""
    try:
        config = load(ctx.obj["config"], database_url=ctx.obj["db"], **settings)
        return bootstrap(config, migrate=create and not config.is_postgres)
    except (ConfigError, StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@click.group()
@click.option(
    "--db",
    envvar=None,
    default=None,
    help="SQLite file or postgresql:// URL (default: $QRUN_DATABASE_URL, else ./qrun.db)",
)
@click.option("--config", "config_file", default=None, help="a TOML file of settings (default: $QRUN_CONFIG)")
@click.pass_context
def main(ctx: click.Context, db: str | None, config_file: str | None) -> None:
    """qrun: durable job execution."""
    ctx.obj = {"db": db, "config": config_file}


@main.command()
@click.pass_context
def migrate(ctx: click.Context) -> None:
    """Create or update the database schema."""
    try:
        config = load(ctx.obj["config"], database_url=ctx.obj["db"])
        open_store(config, migrate=True).close()
    except (ConfigError, StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"schema is current in {config.database_url}", err=True)


@main.command()
@click.option("--queue", default="default")
@click.option("--priority", default=0, type=int, help="higher runs first")
@click.option("--delay", default=0.0, type=float, help="seconds before it may start")
@click.option("--key", "concurrency_key", default=None, help="concurrency key")
@click.option(
    "--key-limit", "concurrency_limit", default=1, type=int, help="how many of --key may run at once"
)
@click.option("--max-attempts", default=3, type=int)
@click.option("--shell", "use_shell", is_flag=True, help="run COMMAND as one /bin/sh -c string")
@click.option("--timeout", default=None, type=float, help="seconds before the command is stopped")
@click.option("--task", default=None, help="a registered python task instead of a command")
@click.option("--arg", "args", multiple=True, help="task argument NAME=JSON (repeatable)")
@click.option(
    "--input", "input_files", multiple=True, help="NAME=PATH: a file the job gets in $QRUN_INPUTS_DIR/NAME"
)
@click.option(
    "--runner", type=click.Choice(["command", "docker"]), default="command", help="where COMMAND runs"
)
@click.option("--image", default=None, help="--runner docker: the image to run COMMAND in")
@click.option("--memory", default=None, help='--runner docker: memory limit, e.g. "256m"')
@click.option("--cpus", default=None, type=float, help="--runner docker: CPU limit, e.g. 0.5")
@click.option("--network", default=None, help="--runner docker: none (default), bridge or host")
@click.option(
    "--env", "env_vars", multiple=True, help="NAME=VALUE for the command's environment (repeatable)"
)
@click.option(
    "--unique", "unique_key", default=None, help="unique key: if a job holds it, print that job's id"
)
@click.option(
    "--unique-finished",
    default="",
    help="finished states that keep holding the key, e.g. done or done,failed (default: none)",
)
@click.option("--pool", default=None, help="a pool this job needs a slot of ([pools.NAME] in the config)")
@click.option("--batch", default=None, help="add the job to this batch id (see qrun batch)")
@click.argument("command", nargs=-1)
@click.pass_context
def submit(
    ctx: click.Context,
    /,
    command: tuple[str, ...],
    use_shell: bool,
    timeout: float | None,
    task: str | None,
    args: tuple[str, ...],
    input_files: tuple[str, ...],
    delay: float,
    runner: str,
    image: str | None,
    memory: str | None,
    cpus: float | None,
    network: str | None,
    env_vars: tuple[str, ...],
    **options: Any,
) -> None:
    """Submit a command (or --task) and print the new job's id alone on stdout."""
    if task is None and not command:
        raise click.UsageError("give a COMMAND after --, e.g. qrun submit -- echo hi (or --task NAME)")
    if task is not None:
        payload: dict[str, Any] = {}
        for item in args:
            name, sep, raw = item.partition("=")
            if not sep:
                raise click.UsageError(f"--arg {item!r} must be NAME=JSON")
            try:
                payload[name] = json.loads(raw)
            except json.JSONDecodeError:
                payload[name] = raw
        kind = task
    else:
        kind, payload = _command_payload(
            command, use_shell, timeout, runner, image, memory, cpus, network, env_vars
        )
    inputs: dict[str, bytes] = {}
    for item in input_files:
        name, sep, path = item.partition("=")
        if not sep:
            raise click.UsageError(f"--input {item!r} must be NAME=PATH")
        try:
            inputs[name] = open(path, "rb").read()  # noqa: SIM115
        except OSError as exc:
            raise click.UsageError(f"--input {name}: cannot read {path}: {exc.strerror}") from None
    app = _app(ctx, create=True)
    try:
        job_id = app.submit(kind, payload, inputs=inputs, delay_s=delay, **options)
    except (StoreError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(job_id)


def _command_payload(
    command: tuple[str, ...],
    use_shell: bool,
    timeout: float | None,
    runner: str,
    image: str | None,
    memory: str | None,
    cpus: float | None,
    network: str | None,
    env_vars: tuple[str, ...],
) -> tuple[str, dict[str, Any]]:
    env = {}
    for item in env_vars:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise click.UsageError(f"--env {item!r} must be NAME=VALUE")
        env[name] = value
    payload: dict[str, Any] = {}
    if runner == "docker":
        if not image:
            raise click.UsageError("--runner docker needs --image NAME[:TAG]")
        argv = ["/bin/sh", "-c", " ".join(command)] if use_shell else list(command)
        payload = {"image": image, "argv": argv}
        extras = {"memory": memory, "cpus": cpus, "network": network}
        payload.update({k: v for k, v in extras.items() if v is not None})
        kind = "container"
    else:
        if image or memory or cpus or network:
            raise click.UsageError("--image, --memory, --cpus and --network need --runner docker")
        payload = {"shell": " ".join(command)} if use_shell else {"argv": list(command)}
        kind = "command"
    if env:
        payload["env"] = env
    if timeout:
        payload["timeout_s"] = timeout
    return kind, payload


@main.command(name="run")
@click.option("--runner", type=click.Choice(["command", "docker"]), default="command")
@click.option("--image", default=None, help="--runner docker: the image")
@click.option("--shell", "use_shell", is_flag=True, help="run COMMAND as one /bin/sh -c string")
@click.option("--timeout", default=None, type=float, help="seconds before it is stopped (exit 124)")
@click.option("--env", "env_vars", multiple=True, help="NAME=VALUE (repeatable)")
@click.argument("command", nargs=-1, required=True)
@click.pass_context
def run_now(
    ctx: click.Context,
    runner: str,
    image: str | None,
    use_shell: bool,
    timeout: float | None,
    env_vars: tuple[str, ...],
    command: tuple[str, ...],
) -> None:
    """Run COMMAND at once, bypassing the queue (R-A1's direct mode): nothing is stored,
    the output is printed, and the exit code is the command's."""
    kind, payload = _command_payload(command, use_shell, None, runner, image, None, None, None, env_vars)
    app = _app(ctx, create=True)
    try:
        done, handle = app.run_direct(kind, payload, timeout_s=timeout)
    except (StoreError, ValueError, RunnerUnavailable) as exc:
        raise click.ClickException(str(exc)) from None
    runner_obj = app.runners[kind]
    if hasattr(runner_obj, "output"):
        out, err = runner_obj.output(handle)
        sys.stdout.buffer.write(out)
        sys.stderr.buffer.write(err)
    elif done.error:
        click.echo(done.error, err=True)
    if done.result is not None:
        click.echo(json.dumps(done.result))
    ctx.exit(done.code if 0 <= done.code < 256 else 1)


@main.command(name="ls")
@click.option("--status", type=click.Choice([s.value for s in Status]), default=None)
@click.option("--queue", default=None)
@click.option("--limit", default=50, type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def ls(ctx: click.Context, status: str | None, queue: str | None, limit: int, as_json: bool) -> None:
    """List jobs."""
    app = _app(ctx)
    jobs = app.store.list(JobFilter(status=Status(status) if status else None, queue=queue, limit=limit))
    if as_json:
        click.echo(json.dumps([job_view(j) for j in jobs], indent=2))
        return
    for j in jobs:
        click.echo(
            f"{j.id}  {j.status.value:9}  {j.queue:10}  {j.kind:12}  attempts={j.attempts}/{j.max_attempts}"
        )


@main.command()
@click.argument("job_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def show(ctx: click.Context, job_id: str, as_json: bool) -> None:
    """Show one job."""
    job = _app(ctx).store.get(job_id)
    if job is None:
        raise click.ClickException(f"no job {job_id}")
    if as_json:
        click.echo(json.dumps(job_view(job), indent=2))
        return
    for key, value in job_view(job).items():
        click.echo(f"{key:18} {value}")


def _act(ctx: click.Context, job_id: str, event: Cancel | Retry, verb: str) -> None:
    outcome = _app(ctx).act(job_id, event)
    if outcome.decision is None:
        raise click.ClickException(f"cannot {verb}: {outcome.rejection or f'no job {job_id}'}")
    click.echo(f"{job_id} {outcome.decision.job.status.value}", err=True)


@main.command()
@click.argument("job_id")
@click.pass_context
def cancel(ctx: click.Context, job_id: str) -> None:
    """Cancel a job: a queued one never starts; a running one is stopped."""
    _act(ctx, job_id, Cancel(), "cancel")


@main.command()
@click.argument("job_id")
@click.pass_context
def retry(ctx: click.Context, job_id: str) -> None:
    """Queue a failed or cancelled job again, with fresh attempts."""
    _act(ctx, job_id, Retry(), "retry")


@main.command()
@click.argument("queue")
@click.pass_context
def pause(ctx: click.Context, queue: str) -> None:
    """Pause a queue: its jobs stay, none is handed out until `qrun resume` (R-F3)."""
    _app(ctx).store.pause(queue)
    click.echo(f"queue {queue} paused", err=True)


@main.command()
@click.argument("queue")
@click.pass_context
def resume(ctx: click.Context, queue: str) -> None:
    """Resume a paused queue."""
    _app(ctx).store.resume(queue)
    click.echo(f"queue {queue} resumed", err=True)


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def queues(ctx: click.Context, as_json: bool) -> None:
    """Queues with their job counts per status, and whether each is paused."""
    view = queues_view(_app(ctx).store)
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    for name, q in view.items():
        counts = "  ".join(f"{k}={v}" for k, v in sorted(q["counts"].items()))
        click.echo(f"{name:12} {'paused' if q['paused'] else 'active':7} {counts}")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def schedules(ctx: click.Context, as_json: bool) -> None:
    """Periodic jobs declared in the configuration, with each one's next slot (UTC)."""
    app = _app(ctx)
    view = schedules_view(app.scheduler, app.clock.now())
    if as_json:
        click.echo(json.dumps(view, indent=2))
        return
    for s in view:
        click.echo(f"{s['name']:16} {s['cron']:16} next {s['next']}  {s['kind']} {s['payload']}")


@main.command()
@click.option("--dry-run", is_flag=True, help="count what retention would prune, delete nothing")
@click.pass_context
def prune(ctx: click.Context, dry_run: bool) -> None:
    """Delete finished jobs past retention (retention_*_s) now, in bounded batches."""
    app = _app(ctx)
    if dry_run:
        from qrun.core.retention import expired

        from .runtime.paging import all_jobs

        now = app.clock.now()
        n = sum(
            1 for s in app.pruner.keep for j in all_jobs(app.store, s) if expired(j, app.pruner.keep, now)
        )
        click.echo(f"{n} finished job(s) are past retention (those others depend on are kept)")
        return
    click.echo(f"pruned {app.pruner.tick(max_batches=1_000_000)} finished job(s)")


@main.command()
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
    app = _app(ctx, create=True, slots=slots, worker_name=worker_name)
    click.echo(f"qrun serving {app.config.database_url} as {app.worker.id}", err=True)
    try:
        app.serve(burst=burst)
    except NameTaken as exc:  # another live daemon has this name (R-G1)
        raise click.ClickException(str(exc)) from None


@main.command()
@click.argument("job_ids", nargs=-1)
@click.option("--batch", default=None, help="wait for every job of this batch instead")
@click.option("--timeout", default=None, type=float, help="give up after this many seconds (exit 124)")
@click.option("--interval", default=0.5, type=float, help="seconds between looks")
@click.pass_context
def wait(
    ctx: click.Context, job_ids: tuple[str, ...], batch: str | None, timeout: float | None, interval: float
) -> None:
    """Block until the given jobs (or a --batch) finish, with a progress bar. Exit 0: all
    done; 1: some failed or were cancelled; 124: timed out."""
    import time

    from rich.console import Console
    from rich.progress import Progress

    if bool(job_ids) == bool(batch):
        raise click.UsageError("give JOB_IDS or --batch ID (one of them)")
    app = _app(ctx)
    if batch:
        from .cli_batches import wait_batch

        wait_batch(ctx, app, batch, timeout, interval)
        return
    missing = [i for i in job_ids if app.store.get(i) is None]
    if missing:
        raise click.ClickException(f"no such job(s): {', '.join(missing)}")
    deadline = None if timeout is None else time.monotonic() + timeout
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("waiting", total=len(job_ids))
        while True:
            jobs = [app.store.get(i) for i in job_ids]
            ended = [j for j in jobs if j is not None and j.status.terminal]
            bar.update(task, completed=len(ended))
            if len(ended) == len(job_ids):
                break
            if deadline is not None and time.monotonic() >= deadline:
                click.echo(
                    f"timed out: {len(job_ids) - len(ended)} of {len(job_ids)} job(s) unfinished", err=True
                )
                ctx.exit(124)
            time.sleep(interval)
    bad = [j for j in ended if j.status is not Status.DONE]
    for j in bad:
        click.echo(f"{j.id} {j.status.value}: {j.error}", err=True)
    ctx.exit(1 if bad else 0)


@main.command()
@click.pass_context
def doctor(ctx: click.Context) -> None:
    """Check the database, its schema and the jobs in it; exit 1 if anything needs care."""
    from .doctor import examine

    app = _app(ctx)  # opening the store checks the database and the schema version
    counts = app.store.counts()
    click.echo(
        f"database {app.config.database_url}: reachable, schema current, {sum(counts.values())} job(s)"
    )
    findings = examine(app.store, app.clock.now())
    for f in findings:
        click.echo(f"{f.job_id}: {f.problem} -> {f.fix}")
    click.echo("no problems found" if not findings else f"{len(findings)} problem(s) found", err=True)
    ctx.exit(1 if findings else 0)


from . import cli_batches, cli_workflows  # noqa: E402  (they register their commands on `main`)

cli_batches.register(main)
cli_workflows.register(main)

if __name__ == "__main__":
    sys.exit(main())
