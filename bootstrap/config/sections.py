"""The configuration, one section a concern. Every setting keeps its one flat name
(`QRUN_HTTP_PORT`, `http_port = 8080` in the file) whichever section holds it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import attrs

from qrun.adapters.redact import mask
from qrun.adapters.runners.environment import INHERITED
from qrun.adapters.runners.native import CHOICES as MONITORS
from qrun.core import Status

from .checks import (
    ConfigError,
    daemon_name,
    loopback,
    not_negative,
    one_of,
    port,
    positive,
    setting,
    synchronous,
)
from .tables import TABLE_NAME, PoolConfig, ScheduleConfig


@attrs.frozen(kw_only=True)
class DatabaseConfig:
    """Where jobs are kept, and how long opening it may take."""

    # A SQLite file path, or postgresql://...
    url: str = setting(flat="database_url", default="./qrun.db", repr=lambda u: repr(mask(u)))
    schema: str = "qrun"  # PostgreSQL schema (or SQLite table prefix "<schema>_")
    # SQLite only: FULL syncs every commit (survives power loss); NORMAL only at checkpoints.
    sqlite_synchronous: str = setting(default="FULL", validator=synchronous)
    # How long `qrun serve` waits for a database that is down at start-up (R-H2), in
    # seconds; unset: forever, as a service manager expects. Other commands fail at once.
    startup_wait_s: float | None = None
    # How long opening the database may take before a command fails naming it.
    connect_timeout_s: float = setting(default=10.0, validator=positive)

    @property
    def is_postgres(self) -> bool:
        return self.url.startswith(("postgresql://", "postgres://"))


@attrs.frozen(kw_only=True)
class DaemonConfig:
    """One `qrun serve`: its name, its slots, its leases and how it waits."""

    # A daemon's name (R-G1): one live daemon per name on a database; a daemon that takes
    # a name recovers the jobs earlier daemons of that name left running. Unset: a name
    # of its own, unique to the process (a restart then waits for the old leases to end).
    name: str | None = setting(
        flat="worker_name", default=None, validator=attrs.validators.optional(daemon_name)
    )
    # Runs at once per daemon; python tasks run in as many threads. A claim takes up to
    # the free slots in one statement, so more slots also mean fewer round trips per job.
    slots: int = setting(default=32, validator=positive)
    # `async def` tasks run on one event loop per daemon, this many at once.
    async_slots: int = setting(default=100, validator=positive)
    lease_s: float = setting(default=30.0, validator=positive)
    # Only covers a lost NOTIFY (and other processes' submits to SQLite, which has none):
    # a backlog, an ended run and a submit through this app never wait on it.
    poll_s: float = setting(default=1.0, validator=positive)
    # Exits are written in batches of at most `complete_batch`, a batch waiting at most
    # `complete_ms` for more runs to end while other runs are still going.
    complete_batch: int = setting(default=100, validator=positive)
    complete_ms: float = setting(default=2.0, validator=not_negative)
    drain_timeout_s: float = setting(default=30.0, validator=positive)
    # `serve --burst` waits for queued jobs due within this many seconds (a retry's
    # backoff, a short delay) before it ends; it names what it leaves behind.
    burst_wait_s: float = setting(default=60.0, validator=not_negative)
    queues: tuple[str, ...] | None = None
    # Spawns that fail in a row back off (1 s, 2 s, ... up to 60 s, no attempt spent); at
    # this many the job fails with an alert naming the error.
    max_spawn_failures: int = setting(default=10, validator=positive)
    state_dir: str = "./.qrun/state"


@attrs.frozen(kw_only=True)
class JobsConfig:
    """What a run gets: its folders, its environment, its engine, its payload's size."""

    runs_dir: str = "./.qrun/runs"
    inputs_dir: str = "./.qrun/inputs"
    # Which of the daemon's environment variables a command inherits (its payload's `env`
    # adds more). The daemon's own QRUN_* settings never pass, whatever is listed.
    job_env: tuple[str, ...] = INHERITED
    docker_host: str | None = None  # the container runner's engine (default: DOCKER_HOST, the socket)
    # The largest payload a job may have, as JSON; refused at submit on every path.
    max_payload_bytes: int = setting(default=1024 * 1024, validator=positive)
    # What watches each command: "native" (monitor.c, built once with the machine's C
    # compiler: a fork and an exec a command), "python" (about 50 ms of CPU a command),
    # or "auto": native where it builds, else python with a warning.
    command_monitor: str = setting(default="auto", validator=one_of(*MONITORS))


@attrs.frozen(kw_only=True)
class RecoveryConfig:
    """The reaper and the sanitizer: how a dead daemon's work is found and what it may do."""

    reaper_interval_s: float = setting(default=10.0, validator=positive)
    reaper_enabled: bool = True
    sanitizer_enabled: bool = True
    dead_ticks: int = setting(default=2, validator=positive)
    finalize_grace_s: float = 300.0
    max_running_s: float = setting(default=24 * 3600.0, validator=positive)


@attrs.frozen(kw_only=True)
class HttpConfig:
    """The HTTP API and the dashboard."""

    host: str = setting(flat="http_host", default="127.0.0.1")
    port: int = setting(flat="http_port", default=8765, validator=port)  # 0: no HTTP API
    # The bearer token every request but /healthz needs. Without one, the API only
    # reads, and only on a loopback address.
    api_token: str | None = setting(default=None, repr=lambda t: "None" if t is None else "'***'")
    # How long a dashboard session lasts after signing in with the token (R-I3).
    session_ttl_s: float = setting(default=8 * 3600.0, validator=positive)
    # Origins besides the request's own Host the dashboard takes actions from, e.g.
    # https://qrun.example.com behind a proxy that rewrites the Host header.
    trusted_origins: tuple[str, ...] | None = None
    # The largest HTTP request body (413 beyond it).
    max_body_bytes: int = setting(default=16 * 1024 * 1024, validator=positive)

    def __attrs_post_init__(self) -> None:
        if self.port and not self.api_token and not loopback(self.host):
            raise ConfigError(
                f"http_host {self.host!r} is not a loopback address, and no api_token is set: "
                "anyone who can reach it could read every job's payload; set QRUN_API_TOKEN, or "
                "listen on 127.0.0.1"
            )


@attrs.frozen(kw_only=True)
class RetentionConfig:
    """R-F3: finished jobs are pruned this long after they end (0: kept forever)."""

    done_s: float = setting(flat="retention_done_s", default=7 * 86400.0)
    failed_s: float = setting(flat="retention_failed_s", default=30 * 86400.0)
    cancelled_s: float = setting(flat="retention_cancelled_s", default=7 * 86400.0)
    prune_interval_s: float = setting(default=60.0, validator=positive)
    prune_batch: int = setting(default=500, validator=positive)

    @property
    def keep(self) -> dict[Status, timedelta]:
        """How long finished jobs are kept, per status; a status not here is kept forever."""
        given = {Status.DONE: self.done_s, Status.FAILED: self.failed_s, Status.CANCELLED: self.cancelled_s}
        return {s: timedelta(seconds=v) for s, v in given.items() if v > 0}


@attrs.frozen(kw_only=True)
class SchedulerConfig:
    """R-F6: periodic jobs; a slot missed by more than the grace (no daemon ran) is skipped."""

    schedules: dict[str, ScheduleConfig] = attrs.field(factory=dict)
    grace_s: float = setting(flat="schedule_grace_s", default=300.0, validator=positive)
    enabled: bool = setting(flat="scheduler_enabled", default=True)

    def __attrs_post_init__(self) -> None:
        for name in self.schedules:
            if not TABLE_NAME.match(name):
                raise ConfigError(
                    f"schedule name {name!r} must be 1-64 letters, digits, '_', '.' or '-' "
                    "(it becomes part of each fired job's id)"
                )


@attrs.frozen(kw_only=True)
class NotifyConfig:
    """Where notifications go besides the log."""

    # Notifications are also POSTed here as JSON.
    webhook_url: str | None = setting(default=None, repr=lambda u: repr(u and mask(u)))
    log_done: bool = False  # a log line for every job that ends done (failures always get one)


@attrs.frozen(kw_only=True)
class Config:
    """Every setting, by section: `config.daemon.slots`, `config.http.port`, ..."""

    # Your application's App as MODULE:ATTR (qrun serve --app tasks:app): its tasks,
    # workflows and schedules are what the daemon runs.
    app: str | None = None
    database: DatabaseConfig = attrs.Factory(DatabaseConfig)
    daemon: DaemonConfig = attrs.Factory(DaemonConfig)
    jobs: JobsConfig = attrs.Factory(JobsConfig)
    recovery: RecoveryConfig = attrs.Factory(RecoveryConfig)
    http: HttpConfig = attrs.Factory(HttpConfig)
    retention: RetentionConfig = attrs.Factory(RetentionConfig)
    scheduler: SchedulerConfig = attrs.Factory(SchedulerConfig)
    notify: NotifyConfig = attrs.Factory(NotifyConfig)
    # R-E3: resource pools, [pools.NAME] tables (or QRUN_POOLS as JSON); declared in the
    # store at start-up, so every daemon on the database hands out the same slots.
    pools: dict[str, PoolConfig] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        for name in self.pools:
            if not TABLE_NAME.match(name):
                raise ConfigError(f"pool name {name!r} must be 1-64 letters, digits, '_', '.' or '-'")
        grace = self.scheduler.grace_s
        for status, keep in self.retention.keep.items():
            if keep <= timedelta(seconds=grace):
                raise ConfigError(
                    f"retention_{status.value}_s ({keep.total_seconds():g}) must exceed schedule_grace_s "
                    f"({grace:g}): a periodic slot's job must outlive the window in which a daemon "
                    "could still fire that slot"
                )

    def live_since(self, now: datetime) -> datetime:
        """Daemons that reported after this are live: a daemon reports every reaper tick,
        so three intervals without one mean it is gone (R-F4)."""
        return now - timedelta(seconds=3 * self.recovery.reaper_interval_s)

    @property
    def worst_case_recovery_s(self) -> float:
        """R-G8: the longest a dead worker's job waits before another worker adopts it.
        The dead worker's lease ends at most `lease_s` after its last renewal; the reaper's
        next tick, at most `reaper_interval_s` later, clears it; a worker's next claim, at
        most `poll_s` later, adopts it. (A worker restarted under the same name on the
        same host recovers its predecessor's jobs at start-up, at once.)"""
        return self.daemon.lease_s + self.recovery.reaper_interval_s + self.daemon.poll_s


#: The sections of `Config`, by attribute name: its fields whose type is a class of settings.
SECTIONS: dict[str, type[Any]] = {
    f.name: f.type
    for f in attrs.fields(attrs.resolve_types(Config))
    if isinstance(f.type, type) and attrs.has(f.type)
}
