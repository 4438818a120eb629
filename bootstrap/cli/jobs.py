"""Jobs: submit, run at once, cancel, retry and wait."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from qrun.core import Cancel, Job, Retry, Status
from qrun.core.ports import KeepsOutput

from .batches import wait_batch
from .common import REFUSED, app_for, refused


@click.command()
@click.option("--queue", default=None, help="the queue it waits on (default: the task's, else default)")
@click.option("--priority", default=None, type=int, help="higher runs first (default 0)")
@click.option("--delay", default=0.0, type=float, help="seconds before it may start")
@click.option("--key", "concurrency_key", default=None, help="concurrency key")
@click.option(
    "--key-limit",
    "concurrency_limit",
    default=None,
    type=int,
    help="how many of --key may run at once (default 1)",
)
@click.option(
    "--max-attempts",
    default=None,
    type=int,
    help="runs before it fails for good (default: the task's, else 3)",
)
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
@click.option("--after", "depends_on", multiple=True, help="start only once job ID is done (repeatable)")
@click.option(
    "--if-dependency-fails",
    "on_dependency_failure",
    type=click.Choice(["cancel", "wait"]),
    default=None,
    help="cancel (default): end cancelled when an --after job ends failed or cancelled; "
    "wait: stay queued for a retry of it",
)
@click.option("--force", is_flag=True, help="queue a --task that no live daemon can run yet")
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
    force: bool,
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
    app = app_for(ctx, create=True)
    if task is not None and not force and not app.runnable(task):
        raise click.ClickException(
            f"no task named {task!r}: this app does not register it and no live daemon can run it, "
            "so it would wait in the queue; give --app MODULE:ATTR (the app that registers it), "
            "start `qrun serve --app MODULE:ATTR`, or pass --force to queue it anyway"
        )
    try:
        given = {k: v for k, v in options.items() if v is not None}  # the rest: the task's, else Job's
        job_id = app.submit(kind, payload, inputs=inputs, delay_s=delay, **given)
    except REFUSED as exc:
        raise refused(exc) from None
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


@click.command(name="run")
@click.option(
    "--runner",
    type=click.Choice(["command", "docker"]),
    default="command",
    help="run here, or in a container",
)
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
    """Run COMMAND at once, bypassing the queue: nothing is stored,
    the output is printed, and the exit code is the command's."""
    kind, payload = _command_payload(command, use_shell, None, runner, image, None, None, None, env_vars)
    app = app_for(ctx, create=True)
    try:
        done, handle = app.run_direct(kind, payload, timeout_s=timeout)
    except REFUSED as exc:  # RunnerUnavailable too
        raise refused(exc) from None
    runner_obj = app.runners[kind]
    if isinstance(runner_obj, KeepsOutput):
        out, err = runner_obj.output(handle)
        sys.stdout.buffer.write(out)
        sys.stderr.buffer.write(err)
    elif done.error:
        click.echo(done.error, err=True)
    if done.result is not None:
        click.echo(json.dumps(done.result))
    ctx.exit(done.code if 0 <= done.code < 256 else 1)


def _act(ctx: click.Context, job_id: str, event: Cancel | Retry, verb: str) -> None:
    app = app_for(ctx)
    outcome = app.act(job_id, event)
    if outcome.decision is None:
        raise click.ClickException(f"cannot {verb}: {outcome.rejection or f'no job {job_id}'}")
    # Read back: the store may have carried on (a retried job whose dependency is still
    # failed ends cancelled again in the same write).
    click.echo(_what_happened(app.job(job_id) or outcome.decision.job), err=True)


def _what_happened(job: Job) -> str:
    """What a cancel or a retry did, in words: a running job is not cancelled yet."""
    if job.status is Status.RUNNING and job.cancel_requested:
        return f"{job.id} stopping: its run is being killed, and it ends cancelled"
    if job.status is Status.QUEUED:
        return f"{job.id} queued again, with fresh attempts"
    if job.status is Status.RUNNING:
        return f"{job.id} queued again, and already running"
    if job.status is Status.CANCELLED and job.cancelled_for is not None:
        return f"{job.id} cancelled: {job.error}; retry {job.cancelled_for} first, and it runs after"
    return f"{job.id} {job.status.value}"


@click.command()
@click.argument("job_id")
@click.pass_context
def cancel(ctx: click.Context, job_id: str) -> None:
    """Cancel a job: a queued one never starts; a running one is stopped."""
    _act(ctx, job_id, Cancel(), "cancel")


@click.command()
@click.argument("job_id")
@click.pass_context
def retry(ctx: click.Context, job_id: str) -> None:
    """Queue a failed or cancelled job again, with fresh attempts."""
    _act(ctx, job_id, Retry(), "retry")


@click.command()
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
    from rich.console import Console
    from rich.progress import Progress

    if bool(job_ids) == bool(batch):
        raise click.UsageError("give JOB_IDS or --batch ID (one of them)")
    app = app_for(ctx)
    if batch:
        wait_batch(ctx, app, batch, timeout, interval)
        return
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("waiting", total=len(job_ids))
        try:
            ended = app.wait_jobs(
                job_ids,
                timeout_s=timeout,
                poll_s=interval,
                progress=lambda n: bar.update(task, completed=n),
            )
        except REFUSED as exc:
            raise refused(exc) from None
    for j in ended:  # each job's outcome, in the order given
        click.echo(
            f"{j.id} {j.status.value}" + (f": {j.error}" if j.status is not Status.DONE else ""), err=True
        )
    if len(ended) < len(job_ids):
        left = [i for i in job_ids if i not in {j.id for j in ended}]
        click.echo(f"timed out: {len(left)} of {len(job_ids)} job(s) unfinished: {' '.join(left)}", err=True)
        ctx.exit(124)
    ctx.exit(0 if all(j.status is Status.DONE for j in ended) else 1)
