"""The composition root: the only place that picks concrete adapters."""

from __future__ import annotations

import importlib.util
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs
from qrun.adapters import crashpoints
from qrun.adapters.ids import new_id
from qrun.adapters.locks import file_lock
from qrun.adapters.notify.log import LogNotifier
from qrun.adapters.notify.webhook import WebhookNotifier
from qrun.adapters.runners.command import CommandSpec
from qrun.adapters.runners.python_runner import PythonRunner, TaskRegistry
from qrun.adapters.runners.subprocess_runner import SubprocessRunner
from qrun.adapters.storage.fs import FsInputStore
from qrun.core import BatchSummary, Cancel, Handle, Job, Notify, Policy, Retry, Run, Status, Unique
from qrun.core.ports import Clock, EventStore, Exit, JobStore, NameLocks, PoolResource, Runner, SessionStore
from qrun.core.workflow import Trigger, WorkflowSpec

from .config import Config, ConfigError, PoolConfig, load
from .runtime.apply import Applier, Effects, Outcome
from .runtime.clock import SystemClock
from .runtime.periodic import Periodic, Pruner, Scheduler
from .runtime.reaper import Reaper, Sanitizer
from .runtime.worker import Worker, own_name
from .runtime.workflows import (
    SESSION_KIND,
    SessionRunner,
    Triggers,
    Workflow,
    Workflows,
    command_handler,
    session_queue,
    start_session,
)

log = logging.getLogger("qrun")


def _check_payload(kind: str, payload: Mapping[str, Any] | None) -> None:
    if kind == "command":
        CommandSpec.from_payload(payload or {})
    elif kind == "container":
        from qrun.adapters.docker.spec import ContainerSpec

        ContainerSpec.from_payload(payload or {})


def _statuses(names: Any) -> list[Status]:
    if isinstance(names, str):
        names = [n for n in names.split(",") if n]
    try:
        return [Status(n) for n in names]
    except ValueError:
        raise ValueError(f"unique_finished takes done, failed or cancelled, got {list(names)}") from None


def open_store(config: Config, *, migrate: bool = False) -> JobStore:
    """The configured store. The embedded SQLite file is created and migrated on demand
    (`migrate=True`); a PostgreSQL schema is migrated only by `qrun migrate`."""
    if config.is_postgres:
        from qrun.adapters.postgres import PostgresStore

        if migrate:
            PostgresStore.migrate(config.database_url, schema=config.schema)
        return PostgresStore(config.database_url, schema=config.schema)
    from qrun.adapters.sqlite import SqliteStore

    if config.database_url.startswith(("sqlite:", "mysql:", "http:")) or "://" in config.database_url:
        raise ConfigError(
            f"database_url {config.database_url!r} is neither a SQLite file path nor a postgresql:// URL"
        )
    if migrate:
        SqliteStore.migrate(config.database_url, prefix=f"{config.schema}_")
    return SqliteStore(config.database_url, prefix=f"{config.schema}_", synchronous=config.sqlite_synchronous)


@attrs.define
class App:
    config: Config
    store: JobStore
    tasks: TaskRegistry
    runners: dict[str, Runner]
    worker: Worker
    reaper: Reaper
    sanitizer: Sanitizer
    clock: Clock
    policy: Policy
    inputs: FsInputStore
    scheduler: Scheduler
    pruner: Pruner
    applier: Applier
    workflows: Workflows = attrs.field(factory=Workflows)
    triggers: Triggers | None = None
    #: Called with each new job's id after `submit` stored it (the eager test mode runs it).
    after_submit: Callable[[str], None] | None = None

    def task(self, name: str | None = None) -> Callable[[Any], Any]:
        """`@app.task()`: register a python task, runnable by this app's workers."""
        register = self.tasks.task(name)

        def wrap(fn: Any) -> Any:
            register(fn)
            for runners in (self.runners, self.worker.runners):
                runners[name or fn.__name__] = self.runners["python"]
            return fn

        return wrap

    def submit(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        inputs: Mapping[str, bytes] | None = None,
        **options: Any,
    ) -> str:
        """Submit one job now; returns its id. `inputs` are stored first (R-A1) and removed
        again if the submit is refused. `options` are those of `Job.new`, and `unique_key`
        with `unique_finished` (status names) for a unique job (R-F1): if a job holds the
        key, its id is returned and nothing is added."""
        key, finished = options.pop("unique_key", None), options.pop("unique_finished", ())
        if key:
            options["unique"] = Unique(key, frozenset(_statuses(finished)))
        _check_payload(kind, payload)  # refuse a malformed command now, not on a worker
        delay = options.pop("delay_s", None)
        now = self.clock.now()
        if delay:
            options["available_at"] = now + timedelta(seconds=delay)
        job = Job.new(id=options.pop("id", None) or new_id(), kind=kind, now=now, payload=payload, **options)
        self._check_pools([job])
        for name, data in (inputs or {}).items():
            self.inputs.put(job.id, name, data)
        try:
            got = self.store.submit([job])[0]
        except BaseException:
            self.inputs.delete(job.id)
            raise
        if got != job.id:
            self.inputs.delete(job.id)  # an existing job holds the key: nothing was added
            return got
        self.worker.wake.set()  # a worker of this process starts it without waiting for a poll
        if self.after_submit is not None:
            self.after_submit(got)
        return got

    def submit_batch(
        self, jobs: Iterable[Mapping[str, Any]], *, batch: str | None = None, **common: Any
    ) -> str:
        """Submit many jobs in one transaction, all or none, under one batch id (R-E1);
        returns the id. Each item is `{"kind": ..., "payload": {...}, **options}` with the
        options of `submit`; `common` options apply to every item that does not set them."""
        batch = batch or f"b-{new_id()}"
        now = self.clock.now()
        made: list[Job] = []
        for i, item in enumerate(jobs):
            spec = {**common, **item}
            try:
                kind, payload = spec.pop("kind", "command"), spec.pop("payload", None)
                _check_payload(kind, payload)
                key, finished = spec.pop("unique_key", None), spec.pop("unique_finished", ())
                if key:
                    spec["unique"] = Unique(key, frozenset(_statuses(finished)))
                if delay := spec.pop("delay_s", None):
                    spec["available_at"] = now + timedelta(seconds=delay)
                job_id = spec.pop("id", None) or new_id()
                made.append(Job.new(id=job_id, kind=kind, now=now, payload=payload, batch=batch, **spec))
            except (ValueError, TypeError) as exc:
                raise ValueError(f"batch item {i}: {exc}") from None
        if not made:
            raise ValueError("a batch needs at least one job")
        self._check_pools(made)
        ids = self.store.submit(made)
        self.worker.wake.set()
        if self.after_submit is not None:
            for job, got in zip(made, ids, strict=True):
                if got == job.id:
                    self.after_submit(got)
        return batch

    def batch(self, batch: str) -> BatchSummary:
        return self.store.batch(batch)

    def wait_batch(
        self,
        batch: str,
        *,
        timeout_s: float | None = None,
        poll_s: float = 0.5,
        progress: Callable[[BatchSummary], None] | None = None,
    ) -> BatchSummary:
        """Block until every job of `batch` has ended (R-E1), reading the summary from the
        store, so any process can wait on any batch. Returns the last summary: check
        `complete` (False after a timeout) and `succeeded`. An unknown batch raises."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            summary = self.store.batch(batch)
            if summary.total == 0:
                raise ValueError(f"batch {batch} has no jobs (never submitted, or cleared)")
            if progress is not None:
                progress(summary)
            if summary.complete or (deadline is not None and time.monotonic() >= deadline):
                return summary
            pause = poll_s if deadline is None else min(poll_s, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)

    def clear_batch(self, batch: str) -> int:
        return self.store.clear_batch(batch)

    def _check_pools(self, jobs: Iterable[Job]) -> None:
        """A job needing a pool nobody declared would wait forever: refuse it now."""
        wanted = {j.pool for j in jobs if j.pool is not None}
        if not wanted:
            return
        missing = sorted(wanted - set(self.store.pools()))
        if missing:
            raise ValueError(
                f"pool {missing[0]!r} is not declared; add [pools.{missing[0]}] with a size to the "
                "config (or call store.set_pool) before submitting jobs that need it"
            )

    # -- workflows (R-D1..R-D9) ----------------------------------------------------------
    def handler(self, name: str | None = None) -> Callable[[Any], Any]:
        """`@app.handler()`: a workflow's producer or consumer. It gets a SessionContext
        (`ctx.events` to consume, `ctx.publish(payload)`) and may return its cost."""
        return self.workflows.handler(name)

    def command_handler(
        self, name: str, argv: Sequence[str], *, timeout_s: float | None = None, cwd: str | None = None
    ) -> None:
        """A handler that runs a command (see `runtime.workflows.command_handler`)."""
        self.workflows.handler(name)(command_handler(argv, timeout_s=timeout_s, cwd=cwd))

    def workflow(
        self,
        name: str,
        *,
        producers: Iterable[str] = (),
        consumers: Iterable[str] = (),
        topic: str | None = None,
        max_iterations: int = 10,
        schedule: str | None = None,
        on_event: bool = False,
    ) -> None:
        """Define a workflow: producers run first, then consumers iterate over the events
        of `topic` within `max_iterations`; started by hand (`trigger`), on each slot of
        `schedule` (cron, UTC) and, with `on_event`, when an event is published on `topic`."""
        spec = WorkflowSpec(
            name=name, producers=producers, consumers=consumers, topic=topic, max_iterations=max_iterations
        )
        self.workflows.add(Workflow(spec, schedule, on_event))

    def trigger(self, workflow: str) -> str:
        """Start a session by hand (R-D3), or get the active one's id (R-D6). This is also
        how a workflow in error is started again."""
        self._needs_workflow_store()
        if workflow not in self.workflows.workflows:
            known = ", ".join(sorted(self.workflows.workflows)) or "none"
            raise ValueError(f"no workflow named {workflow!r} (defined: {known})")
        self.store.set_workflow_error(workflow, None, self.clock.now())  # type: ignore[attr-defined]
        return start_session(self.store, self.clock, workflow, Trigger.MANUAL)

    def publish(self, topic: str, payload: Mapping[str, Any] | None = None) -> str:
        """Publish an event; workflows started by events on `topic` get a session (R-D3)."""
        from qrun.core.topics import TopicEvent

        self._needs_workflow_store()
        event = TopicEvent(
            id=new_id(), topic=topic, payload=dict(payload or {}), published_at=self.clock.now()
        )
        self.store.publish([event])  # type: ignore[attr-defined]
        if self.triggers is not None:
            self.triggers.tick(topic=topic)
        return event.id

    def _needs_workflow_store(self) -> None:
        if self.triggers is None:
            raise ValueError(
                f"{type(self.store).__name__} does not implement the EventStore and SessionStore ports "
                "(qrun.core.ports), which workflows need; the memory, SQLite and PostgreSQL stores do"
            )

    def pause_workflow(self, workflow: str) -> None:
        """Its sessions, new or interrupted, wait until `resume_workflow` (R-D8)."""
        self.store.pause(session_queue(workflow))

    def resume_workflow(self, workflow: str) -> None:
        self.store.resume(session_queue(workflow))

    def run_direct(
        self, kind: str, payload: Mapping[str, Any], *, timeout_s: float | None = None
    ) -> tuple[Exit, Handle]:
        """R-A1's direct mode: run at once through the runner's port, bypassing the queue
        (nothing is stored); for interactive and sandbox runs. Returns the exit and the
        handle (whose runner has the output)."""
        _check_payload(kind, payload)
        runner = self.runners.get(kind)
        if runner is None:
            raise ValueError(f"no runner for kind {kind!r}; this app runs: {', '.join(sorted(self.runners))}")
        now = self.clock.now()
        job = Job.new(id=f"direct-{new_id()}", kind=kind, now=now, payload=payload)
        run = Run(f"{job.id}/1")
        handle = runner.spawn(job, run)
        try:
            done = runner.wait(handle, timeout_s)
        except BaseException:
            runner.kill(handle)
            raise
        if done is None:
            runner.kill(handle)
            killed = runner.wait(handle, 30)  # collects what it left (the output is archived)
            done = Exit(
                code=124, error=f"timed out after {timeout_s}s", result=killed.result if killed else None
            )
        return done, handle

    def schedule(
        self, name: str, cron: str, kind: str, payload: Mapping[str, Any] | None = None, **options: Any
    ) -> None:
        """Declare a periodic job in code (R-F6), as `[schedules.NAME]` does in the config:
        each slot of `cron` (UTC) fires once, however many daemons run."""
        _check_payload(kind, payload)
        template = Job.new(id=f"cron-{name}", kind=kind, now=self.clock.now(), payload=payload, **options)
        self.scheduler.add(Periodic(name, cron, template))

    def act(self, job_id: str, event: Cancel | Retry) -> Outcome:
        """Cancel or retry a job by hand (CLI, HTTP); a running job's kill goes to its runner."""
        return self.applier.event(job_id, event)

    def serve(
        self, stop: threading.Event | None = None, *, handle_signals: bool = True, burst: bool = False
    ) -> None:
        """Worker, reaper and sanitizer until `stop` (or SIGTERM/SIGINT); then drain.
        `burst`: return once the queue has nothing to start and nothing runs."""
        stop = stop or threading.Event()
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
        with self.hold_name():
            recovered = self.worker.recover(self.worker.name)
            if recovered:
                log.warning(
                    "recovered %d running job(s) of earlier daemons named %s", recovered, self.worker.name
                )
            self._serve(stop, burst)

    def _serve(self, stop: threading.Event, burst: bool) -> None:
        keeper = threading.Thread(target=self._keep, args=(stop,), name="qrun-reaper", daemon=True)
        keeper.start()
        if self.config.scheduler_enabled and (self.scheduler.schedules or self.workflows.workflows):
            threading.Thread(target=self._fire, args=(stop,), name="qrun-scheduler", daemon=True).start()
        http = self._start_http()
        wake = self.worker.wake

        def wake_on_stop() -> None:
            stop.wait()
            wake.set()

        threading.Thread(target=wake_on_stop, daemon=True).start()
        if hasattr(self.store, "listen"):
            threading.Thread(target=self._listen, args=(stop, wake), name="qrun-listen", daemon=True).start()
        while not stop.is_set():
            try:
                # Passes run as soon as there is work: a run ended, a job was submitted
                # (NOTIFY, where the store has it), a heartbeat is due; `poll_s` covers a
                # lost notification (poolers drop LISTEN), R-G6.
                self.worker.run(stop, burst=burst)
                if burst:
                    stop.set()  # the reaper and the listener end with the worker
                    break
            except Exception:  # a failing pass (database down) must not end the daemon
                log.exception("worker pass failed")
                stop.wait(self.config.poll_s)
        self.worker.drain(self.config.drain_timeout_s)
        keeper.join(timeout=5)
        if http is not None:
            http.should_exit = True

    def _start_http(self) -> Any:
        if not self.config.http_port:
            return None
        import uvicorn

        from .http import create_api

        server = uvicorn.Server(
            uvicorn.Config(
                create_api(self, token=self.config.api_token),
                host=self.config.http_host,
                port=self.config.http_port,
                log_level="warning",
            )
        )
        threading.Thread(target=server.run, name="qrun-http", daemon=True).start()
        log.info("HTTP API on http://%s:%d", self.config.http_host, self.config.http_port)
        return server

    def _listen(self, stop: threading.Event, wake: threading.Event) -> None:
        while not stop.is_set():
            try:
                with self.store.listen() as listener:  # type: ignore[attr-defined]
                    while not stop.is_set():
                        if listener.wait(1.0):
                            wake.set()
            except Exception:
                log.warning("LISTEN connection lost; polling every %ss until it is back", self.config.poll_s)
                stop.wait(5.0)

    def _keep(self, stop: threading.Event) -> None:
        # Start-up: every status (R-C4), beside the worker rather than before it: a claim
        # never hands out an unclean job (decide refuses it), so nothing waits on this.
        try:
            self.sanitizer.tick(statuses=tuple(Status))
        except Exception:
            log.exception("start-up sanitizer pass failed")
        next_prune = 0.0
        while not stop.wait(self.config.reaper_interval_s):
            self.reaper.tick()
            try:
                self.sanitizer.tick()
            except Exception:
                log.exception("sanitizer tick failed")
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + self.config.prune_interval_s
                try:
                    if pruned := self.pruner.tick():
                        log.info("pruned %d finished job(s) past retention", pruned)
                except Exception:
                    log.exception("prune failed")

    def _fire(self, stop: threading.Event) -> None:
        # Once a second: a slot fires within a second of its time, and a tick that finds
        # nothing due costs only the cron arithmetic.
        while not stop.wait(1.0):
            self.scheduler.tick()
            if self.triggers is not None and self.workflows.workflows:
                try:
                    self.triggers.tick()
                except Exception:
                    log.exception("workflow triggers failed")

    def hold_name(self) -> AbstractContextManager[None]:
        """This daemon's name, held for its life (R-G1): through the store where it can
        (every host on the database), else a lock file in `state_dir` (this host)."""
        name = self.worker.name
        if isinstance(self.store, NameLocks):
            return self.store.lock_name(name)
        state = Path(self.config.state_dir)
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        return file_lock(
            state / f"{quote(name, safe='')}.lock",
            lambda pid: f"a daemon named {name!r} is running here (pid {pid}); give this one another name",
        )


def pool_resources(pools: Mapping[str, PoolConfig]) -> dict[str, PoolResource]:
    """What each configured pool's slots are on this host; plain slot pools need nothing."""
    from qrun.adapters.pools import GitWorktreePool, PoolPrepareError

    out: dict[str, PoolResource] = {}
    for name, spec in pools.items():
        if spec.kind == "git-worktree":
            assert spec.repo is not None  # PoolConfig refuses it otherwise
            root = spec.root or str(Path(".qrun") / "worktrees" / name)
            try:
                out[name] = GitWorktreePool(name, spec.repo, root, ref=spec.ref)
            except PoolPrepareError as exc:
                raise ConfigError(f"pools.{name}: {exc}") from None
    return out


def bootstrap(
    config: Config | None = None,
    *,
    store: JobStore | None = None,
    tasks: TaskRegistry | None = None,
    runners: Mapping[str, Runner] | None = None,
    clock: Clock | None = None,
    notify: Callable[[Notify], None] | None = None,
    inputs: FsInputStore | None = None,
    migrate: bool = False,
) -> App:
    """Wire an app. Every dependency may be passed in (tests pass fakes); anything not
    passed is built here from `config`, never at import time."""
    config = config or load()
    store = store or open_store(config, migrate=migrate)
    tasks = tasks or TaskRegistry()
    clock = clock or SystemClock()
    inputs = inputs or FsInputStore(config.inputs_dir)
    if notify is None:
        notifiers: list[Any] = [LogNotifier(done=config.log_done)]
        if config.webhook_url:
            notifiers.append(WebhookNotifier(config.webhook_url))

        def notify(note: Notify) -> None:
            for notifier in notifiers:
                notifier.notify(note)

    policy = Policy(
        dead_ticks=config.dead_ticks,
        max_spawn_failures=config.max_spawn_failures,
        finalize_grace_s=config.finalize_grace_s,
        max_running_s=config.max_running_s,
    )
    if runners is None:
        python = PythonRunner(tasks, threads=config.slots)
        built: dict[str, Runner] = {
            "command": SubprocessRunner(config.runs_dir, inputs=inputs),
            "python": python,
        }
        if importlib.util.find_spec("docker") is not None:
            from qrun.adapters.docker import ContainerRunner

            built["container"] = ContainerRunner(config.runs_dir, base_url=config.docker_host, inputs=inputs)
        built.update(dict.fromkeys(tasks.names(), python))
    else:
        built = dict(runners)
    for name, pool in config.pools.items():
        store.set_pool(name, pool.size)  # the config is the declaration (R-E3)
    crash = crashpoints.from_env()  # tests only (QRUN_TEST_CRASH_AT); else it never fires
    worker = Worker(
        store,
        built,
        name=config.worker_name or own_name(),
        slots=config.slots,
        lease_s=config.lease_s,
        poll_s=config.poll_s,
        complete_batch=config.complete_batch,
        complete_ms=config.complete_ms,
        queues=config.queues,
        policy=policy,
        clock=clock,
        notify=notify,
        delete_inputs=inputs.delete,
        pools=pool_resources(config.pools),
        crash=crash,
    )
    applier = Applier(
        store,
        Effects(built, notify=notify, delete_inputs=inputs.delete),
        policy=policy,
        clock=clock,
        crash=crash,
    )
    reaper = Reaper(store, built, policy=policy, clock=clock, enabled=config.reaper_enabled, applier=applier)
    sanitizer = Sanitizer(
        store, policy=policy, clock=clock, enabled=config.sanitizer_enabled, applier=applier
    )
    scheduler = Scheduler(store, clock, grace_s=config.schedule_grace_s)
    pruner = Pruner(store, clock, keep=config.retention, batch=config.prune_batch)
    app = App(
        config,
        store,
        tasks,
        built,
        worker,
        reaper,
        sanitizer,
        clock,
        policy,
        inputs,
        scheduler,
        pruner,
        applier,
    )
    if isinstance(store, EventStore) and isinstance(store, SessionStore):
        app.triggers = Triggers(app.workflows, store, clock, grace_s=config.schedule_grace_s)
        if runners is None or SESSION_KIND not in built:
            sessions = SessionRunner(app.workflows, store, clock)
            built[SESSION_KIND] = sessions
            worker.runners[SESSION_KIND] = sessions
    for name, spec in config.schedules.items():
        kind, payload = spec.kind_and_payload()
        app.schedule(
            name,
            spec.cron,
            kind,
            payload,
            queue=spec.queue,
            priority=spec.priority,
            max_attempts=spec.max_attempts,
        )
    return app
