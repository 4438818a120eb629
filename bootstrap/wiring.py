"""The composition root: the only place that picks concrete adapters. It only wires:
nothing here writes to a database (schemas and pools are `migrate`'s and the daemon's)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from qrun.adapters import crashpoints
from qrun.adapters.notify.log import LogNotifier
from qrun.adapters.notify.webhook import WebhookNotifier
from qrun.adapters.redact import mask
from qrun.adapters.runners.procs import hide_from_same_user
from qrun.adapters.runners.python_runner import PythonRunner, TaskRegistry
from qrun.adapters.runners.sessions import SessionRunner
from qrun.adapters.runners.subprocess_runner import SubprocessRunner
from qrun.adapters.storage.fs import FsInputStore
from qrun.core import Notify, Policy
from qrun.core.ports import Clock, JobStore, PoolResource, Runner, WorkflowStore
from qrun.core.workflow import SESSION_KIND

from .app import App
from .config import Config, ConfigError, PoolConfig, load
from .daemon.serve import Daemon
from .daemon.startup import until_up
from .runtime.apply import Applier, Effects
from .runtime.clock import SystemClock
from .runtime.metrics import JobMetrics
from .runtime.periodic import Pruner, Scheduler
from .runtime.reaper import Reaper, Sanitizer
from .runtime.runners import Runners
from .runtime.worker import Worker, WorkerSettings, own_name
from .runtime.workflows import Triggers, Workflows
from .usecases.setup import declare_pools


def open_store(config: Config, *, migrate: bool = False, lazy: bool = False) -> JobStore:
    """The configured store. `migrate=True` creates or updates its schema first (the
    embedded SQLite file on demand; a PostgreSQL schema only through `qrun migrate`).
    `lazy`: it connects on first use (or `open()`), not now."""
    if config.database.is_postgres:
        from qrun.adapters.postgres import PostgresStore

        timeout = config.database.connect_timeout_s
        if migrate:
            PostgresStore.migrate(
                config.database.url, schema=config.database.schema, connect_timeout_s=timeout
            )
        return PostgresStore(
            config.database.url, schema=config.database.schema, connect_timeout_s=timeout, open=not lazy
        )
    from qrun.adapters.sqlite import SqliteStore

    if config.database.url.startswith(("sqlite:", "mysql:", "http:")) or "://" in config.database.url:
        raise ConfigError(
            f"database_url {mask(config.database.url)!r} is neither a SQLite file path "
            "nor a postgresql:// URL"
        )
    if migrate:
        SqliteStore.migrate(config.database.url, prefix=f"{config.database.schema}_")
    return SqliteStore(
        config.database.url,
        prefix=f"{config.database.schema}_",
        synchronous=config.database.sqlite_synchronous,
        open=not lazy,
    )


def migrate(config: Config) -> None:
    """`qrun migrate`: the schema brought up to date, and the configured pools declared."""
    store = open_store(config, migrate=True)
    try:
        declare_pools(store, config.pools)
    finally:
        store.close()


def load_app(ref: str, config: Config) -> App:
    """The App at `ref` (MODULE:ATTR, e.g. tasks:app), imported with the current folder on
    the path as `python -m` would. Its settings are the command's (`config`): the module
    builds its app with `bootstrap()`, which reads the same file and environment, and the
    command's own flags (--db, --slots, ...) win."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"app {ref!r} must be MODULE:ATTR, e.g. tasks:app")
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigError(f"app {ref!r}: cannot import {module_name}: {exc}") from None
    found: Any = module
    for part in attr.split("."):
        found = getattr(found, part, None)
        if found is None:
            raise ConfigError(f"app {ref!r}: {module_name} has no {attr}")
    if not isinstance(found, App):
        raise ConfigError(
            f"app {ref!r} is a {type(found).__name__}, not a qrun App (make one with bootstrap())"
        )
    if attrs.evolve(found.config, app=config.app) == config:
        return found  # the user's own app, made with these very settings
    return rewire(found, config)


def rewire(app: App, config: Config) -> App:
    """`app`'s tasks, handlers, workflows and schedules on a freshly wired app of `config`
    (the command's flags win over what the module built); `app`'s store is closed."""
    app.close()
    fresh = bootstrap(config, tasks=app.tasks, clock=app.clock)
    fresh.task_options.update(app.task_options)
    fresh.workflows.handlers.update(app.workflows.handlers)
    for workflow in app.workflows.workflows.values():
        fresh.workflows.add(workflow)
    for name, periodic in app.scheduler.schedules.items():
        if name not in fresh.scheduler.schedules:
            fresh.scheduler.add(periodic)
    return fresh


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


def _notifier(config: Config) -> Callable[[Notify], None]:
    notifiers: list[Any] = [LogNotifier(done=config.notify.log_done)]
    if config.notify.webhook_url:
        notifiers.append(WebhookNotifier(config.notify.webhook_url))

    def notify(note: Notify) -> None:
        for notifier in notifiers:
            notifier.notify(note)

    return notify


def _runners(config: Config, tasks: TaskRegistry, inputs: FsInputStore) -> Runners:
    python = PythonRunner(tasks, threads=config.daemon.slots, async_slots=config.daemon.async_slots)
    built = Runners(
        {
            "command": SubprocessRunner(
                config.jobs.runs_dir,
                inputs=inputs,
                env_allow=config.jobs.job_env,
                monitor=config.jobs.command_monitor,
            ),
            "python": python,
        }
    )
    if importlib.util.find_spec("docker") is not None:
        from qrun.adapters.docker import ContainerRunner

        built["container"] = ContainerRunner(
            config.jobs.runs_dir, base_url=config.jobs.docker_host, inputs=inputs
        )
    built.update(dict.fromkeys(tasks.names(), python))
    return built


def bootstrap(
    config: Config | None = None,
    *,
    store: JobStore | None = None,
    tasks: TaskRegistry | None = None,
    runners: Mapping[str, Runner] | None = None,
    clock: Clock | None = None,
    notify: Callable[[Notify], None] | None = None,
    inputs: FsInputStore | None = None,
) -> App:
    """Wire an app. Every dependency may be passed in (tests pass fakes); anything not
    passed is built here from `config`. It opens nothing: the store connects on first use
    (or `app.open()`), so `app = bootstrap()` at a module's top level does no I/O and
    works with the database down."""
    config = config or load()
    store = store or open_store(config, lazy=True)
    tasks = tasks or TaskRegistry()
    clock = clock or SystemClock()
    inputs = inputs or FsInputStore(config.jobs.inputs_dir)
    notify = notify or _notifier(config)
    policy = Policy(
        dead_ticks=config.recovery.dead_ticks,
        max_spawn_failures=config.daemon.max_spawn_failures,
        finalize_grace_s=config.recovery.finalize_grace_s,
        max_running_s=config.recovery.max_running_s,
    )
    built = _runners(config, tasks, inputs) if runners is None else Runners(runners)
    crash = crashpoints.from_env()  # tests only (QRUN_TEST_CRASH_AT); else it never fires
    metrics = JobMetrics()
    # One applier for every writer of the process: the worker, the reaper, the sanitizer
    # and the use cases (cancel, retry), with the process's effects.
    applier = Applier(
        store,
        Effects(built, notify=notify, delete_inputs=inputs.delete, observe=metrics.observe),
        policy=policy,
        clock=clock,
        crash=crash,
    )
    worker = Worker(
        store,
        built,
        settings=WorkerSettings(
            name=config.daemon.name or own_name(),
            slots=config.daemon.slots,
            lease_s=config.daemon.lease_s,
            poll_s=config.daemon.poll_s,
            complete_batch=config.daemon.complete_batch,
            complete_ms=config.daemon.complete_ms,
            queues=config.daemon.queues,
            serve_pools=tuple(config.pools),
        ),
        applier=applier,
        policy=policy,
        clock=clock,
        pools=pool_resources(config.pools),
        crash=crash,
    )
    reaper = Reaper(
        store, built, policy=policy, clock=clock, enabled=config.recovery.reaper_enabled, applier=applier
    )
    sanitizer = Sanitizer(
        store, policy=policy, clock=clock, enabled=config.recovery.sanitizer_enabled, applier=applier
    )
    worker.healed = sanitizer.count  # a claim that heals a row counts it as the sanitizer does
    scheduler = Scheduler(store, clock, grace_s=config.scheduler.grace_s)
    pruner = Pruner(store, clock, keep=config.retention.keep, batch=config.retention.prune_batch)
    workflows = Workflows()

    def api() -> Any:
        from .http import create_api

        return create_api(app, token=config.http.api_token)

    daemon = Daemon(
        config,
        store,
        worker,
        reaper,
        sanitizer,
        scheduler,
        pruner,
        workflows,
        triggers=lambda: app.triggers,
        api=api,
        prepare=lambda: app.declare_pools(),  # noqa: PLW0108  (app is made below)
    )
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
        daemon,
        metrics,
        workflows,
    )
    if isinstance(store, WorkflowStore):
        app.triggers = Triggers(workflows, store, clock, grace_s=config.scheduler.grace_s)
        if runners is None or SESSION_KIND not in built:
            sessions = SessionRunner(workflows, store, clock)
            built[SESSION_KIND] = sessions
    for name, spec in config.scheduler.schedules.items():
        kind, payload = spec.kind_and_payload()
        app.schedule(
            name,
            spec.cron,
            kind,
            payload,
            seconds=spec.seconds,
            queue=spec.queue,
            priority=spec.priority,
            max_attempts=spec.max_attempts,
        )
    return app


def open_app(config: Config, *, create: bool, wait: bool) -> App:
    """The app a command runs on: the application's own (`config.app`), else one built
    here. `create`: the embedded SQLite file made or brought up to date first. `wait`
    (the daemon): a database that is down is waited for, `startup_wait_s` at most (R-H2)."""

    def opened() -> App:
        if create and not config.database.is_postgres:
            migrate(config)
        app = load_app(config.app, config) if config.app else bootstrap(config)
        app.open()  # here, so that an outage is waited for (or refused) now
        return app

    return until_up(opened, "opening the database", wait_s=config.database.startup_wait_s if wait else 0.0)


def become_daemon() -> None:
    """What `qrun serve` does to its own process before anything runs: the jobs it starts
    run as its user, and must not read its memory or environment (R-I1)."""
    hide_from_same_user()


def without_password(text: str) -> str:
    """`text` fit to show: every database or webhook password in it masked (R-I2)."""
    return mask(text)
