"""Configuration: one attrs class, from an optional TOML file and QRUN_* environment
variables (the environment wins), structured and validated by cattrs at the edge."""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import attrs
import cattrs

from qrun.adapters.redact import mask
from qrun.adapters.runners.environment import INHERITED
from qrun.core import Status
from qrun.core.errors import InvalidInput


class ConfigError(InvalidInput):
    """The configuration is wrong; the message names the setting and how to fix it."""


def _positive(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value > 0:
        raise ConfigError(f"{attribute.name} must be > 0, got {value!r}")


def _not_negative(instance: object, attribute: attrs.Attribute[Any], value: float) -> None:
    if not value >= 0:
        raise ConfigError(f"{attribute.name} must be >= 0, got {value!r}")


def _synchronous(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if value not in ("FULL", "NORMAL"):
        raise ConfigError(
            f"{attribute.name} must be FULL (every commit synced: survives a power loss) or NORMAL "
            f"(synced at checkpoints: faster), got {value!r}"
        )


def _daemon_name(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value or "@" in value or any(c.isspace() or not c.isprintable() for c in value):
        raise ConfigError(
            f"{attribute.name} {value!r} is not a daemon name: use printable characters, no spaces and no '@'"
        )


def _port(instance: object, attribute: attrs.Attribute[Any], value: int) -> None:
    if isinstance(value, bool) or not 0 <= value <= 65535:
        raise ConfigError(f"{attribute.name} must be a TCP port 1-65535 (0: no HTTP API), got {value!r}")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


_SCHEDULE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@attrs.frozen(kw_only=True)
class ScheduleConfig:
    """A periodic job (R-F6): a command (`argv` or `shell`) or a python `task` with `args`,
    fired at each slot of `cron` (UTC)."""

    cron: str  # five fields: minute hour day month weekday (checked with `seconds`)
    # A cron field for the second (e.g. "*/10"): more than one slot a minute.
    seconds: str | None = None
    argv: tuple[str, ...] | None = None
    shell: str | None = None
    task: str | None = None
    args: dict[str, Any] = attrs.field(factory=dict)
    queue: str = "default"
    priority: int = 0
    max_attempts: int = attrs.field(default=3, validator=_positive)
    timeout_s: float | None = None

    def __attrs_post_init__(self) -> None:
        from .runtime.periodic import cron_expression

        cron_expression(self.cron, self.seconds)  # raises, saying what is read and how to write it
        given = [n for n in ("argv", "shell", "task") if getattr(self, n)]
        if len(given) != 1:
            raise ConfigError(f"a schedule runs exactly one of argv, shell or task; got {given or 'none'}")

    def kind_and_payload(self) -> tuple[str, dict[str, Any]]:
        if self.task:
            return self.task, dict(self.args)
        payload: dict[str, Any] = {"argv": list(self.argv)} if self.argv else {"shell": self.shell}
        if self.timeout_s:
            payload["timeout_s"] = self.timeout_s
        return "command", payload


@attrs.frozen(kw_only=True)
class PoolConfig:
    """A resource pool (R-E3): `size` slots. `kind = "git-worktree"` makes slot N a
    worktree of `repo` under `root`, reset to a clean checkout of `ref` before each job;
    `kind = "slots"` is just a bound (GPUs, licences): jobs learn their slot from
    QRUN_POOL_SLOT."""

    size: int
    kind: str = "slots"
    repo: str | None = None
    root: str | None = None
    ref: str = "HEAD"

    def __attrs_post_init__(self) -> None:
        if isinstance(self.size, bool) or self.size < 0:
            raise ConfigError(f"size must be a whole number >= 0, got {self.size!r}")
        if self.kind not in ("slots", "git-worktree"):
            raise ConfigError(f'kind must be "slots" or "git-worktree", got {self.kind!r}')
        if self.kind == "git-worktree" and not self.repo:
            raise ConfigError('a "git-worktree" pool needs repo, the directory of a git clone')
        if self.kind == "slots" and (self.repo or self.root):
            raise ConfigError('repo and root are for kind = "git-worktree"')


@attrs.frozen(kw_only=True)
class Config:
    database_url: str = attrs.field(
        default="./qrun.db", repr=lambda u: repr(mask(u))
    )  # a SQLite file path, or postgresql://...
    # Your application's App as MODULE:ATTR (qrun serve --app tasks:app): its tasks,
    # workflows and schedules are what the daemon runs.
    app: str | None = None
    schema: str = "qrun"  # PostgreSQL schema (or SQLite table prefix "<schema>_")
    # SQLite only: FULL syncs every commit (survives power loss); NORMAL only at checkpoints.
    sqlite_synchronous: str = attrs.field(default="FULL", validator=_synchronous)
    runs_dir: str = "./.qrun/runs"
    inputs_dir: str = "./.qrun/inputs"
    webhook_url: str | None = attrs.field(
        default=None, repr=lambda u: repr(u and mask(u))
    )  # notifications are also POSTed here as JSON
    log_done: bool = False  # a log line for every job that ends done (failures always get one)
    state_dir: str = "./.qrun/state"
    # A daemon's name (R-G1): one live daemon per name on a database; a daemon that takes
    # a name recovers the jobs earlier daemons of that name left running. Unset: a name
    # of its own, unique to the process (a restart then waits for the old leases to end).
    worker_name: str | None = attrs.field(default=None, validator=attrs.validators.optional(_daemon_name))
    # Runs at once per daemon; python tasks run in as many threads. A claim takes up to
    # the free slots in one statement, so more slots also mean fewer round trips per job.
    slots: int = attrs.field(default=32, validator=_positive)
    # `async def` tasks run on one event loop per daemon, this many at once.
    async_slots: int = attrs.field(default=100, validator=_positive)
    lease_s: float = attrs.field(default=30.0, validator=_positive)
    # Only covers a lost NOTIFY (and other processes' submits to SQLite, which has none):
    # a backlog, an ended run and a submit through this app never wait on it.
    poll_s: float = attrs.field(default=1.0, validator=_positive)
    # Exits are written in batches of at most `complete_batch`, a batch waiting at most
    # `complete_ms` for more runs to end while other runs are still going.
    complete_batch: int = attrs.field(default=100, validator=_positive)
    complete_ms: float = attrs.field(default=2.0, validator=_not_negative)
    drain_timeout_s: float = attrs.field(default=30.0, validator=_positive)
    # `serve --burst` waits for queued jobs due within this many seconds (a retry's
    # backoff, a short delay) before it ends; it names what it leaves behind.
    burst_wait_s: float = attrs.field(default=60.0, validator=_not_negative)
    reaper_interval_s: float = attrs.field(default=10.0, validator=_positive)
    reaper_enabled: bool = True
    sanitizer_enabled: bool = True
    dead_ticks: int = attrs.field(default=2, validator=_positive)
    # Spawns that fail in a row back off (1 s, 2 s, ... up to 60 s, no attempt spent); at
    # this many the job fails with an alert naming the error.
    max_spawn_failures: int = attrs.field(default=10, validator=_positive)
    finalize_grace_s: float = 300.0
    max_running_s: float = attrs.field(default=24 * 3600.0, validator=_positive)
    queues: tuple[str, ...] | None = None
    docker_host: str | None = None  # the container runner's engine (default: DOCKER_HOST, the socket)
    # Which of the daemon's environment variables a command inherits (its payload's `env`
    # adds more). The daemon's own QRUN_* settings never pass, whatever is listed.
    job_env: tuple[str, ...] = INHERITED
    # The largest payload a job may have, as JSON; refused at submit on every path.
    max_payload_bytes: int = attrs.field(default=1024 * 1024, validator=_positive)
    # The largest HTTP request body (413 beyond it).
    max_body_bytes: int = attrs.field(default=16 * 1024 * 1024, validator=_positive)
    # How long `qrun serve` waits for a database that is down at start-up (R-H2), in
    # seconds; unset: forever, as a service manager expects. Other commands fail at once.
    startup_wait_s: float | None = None
    # How long opening the database may take before a command fails naming it.
    connect_timeout_s: float = attrs.field(default=10.0, validator=_positive)
    http_host: str = "127.0.0.1"
    http_port: int = attrs.field(default=8765, validator=_port)  # 0: no HTTP API
    # The bearer token every request but /healthz needs. Without one, the API only
    # reads, and only on a loopback address.
    api_token: str | None = attrs.field(default=None, repr=lambda t: "None" if t is None else "'***'")
    # How long a dashboard session lasts after signing in with the token (R-I3).
    session_ttl_s: float = attrs.field(default=8 * 3600.0, validator=_positive)
    # Origins besides the request's own Host the dashboard takes actions from, e.g.
    # https://qrun.example.com behind a proxy that rewrites the Host header.
    trusted_origins: tuple[str, ...] | None = None
    # R-F3: finished jobs are pruned this long after they end (0: kept forever).
    retention_done_s: float = 7 * 86400.0
    retention_failed_s: float = 30 * 86400.0
    retention_cancelled_s: float = 7 * 86400.0
    prune_interval_s: float = attrs.field(default=60.0, validator=_positive)
    prune_batch: int = attrs.field(default=500, validator=_positive)
    # R-F6: periodic jobs; a slot missed by more than the grace (no daemon ran) is skipped.
    schedules: dict[str, ScheduleConfig] = attrs.field(factory=dict)
    schedule_grace_s: float = attrs.field(default=300.0, validator=_positive)
    scheduler_enabled: bool = True
    # R-E3: resource pools, [pools.NAME] tables (or QRUN_POOLS as JSON); declared in the
    # store at start-up, so every daemon on the database hands out the same slots.
    pools: dict[str, PoolConfig] = attrs.field(factory=dict)

    def __attrs_post_init__(self) -> None:
        if self.http_port and not self.api_token and not _loopback(self.http_host):
            raise ConfigError(
                f"http_host {self.http_host!r} is not a loopback address, and no api_token is set: "
                "anyone who can reach it could read every job's payload; set QRUN_API_TOKEN, or "
                "listen on 127.0.0.1"
            )
        for name in self.pools:
            if not _SCHEDULE_NAME.match(name):
                raise ConfigError(f"pool name {name!r} must be 1-64 letters, digits, '_', '.' or '-'")
        for name in self.schedules:
            if not _SCHEDULE_NAME.match(name):
                raise ConfigError(
                    f"schedule name {name!r} must be 1-64 letters, digits, '_', '.' or '-' "
                    "(it becomes part of each fired job's id)"
                )
        for status, keep in self.retention.items():
            if keep <= timedelta(seconds=self.schedule_grace_s):
                raise ConfigError(
                    f"retention_{status.value}_s ({keep.total_seconds():g}) must exceed schedule_grace_s "
                    f"({self.schedule_grace_s:g}): a periodic slot's job must outlive the window in "
                    "which a daemon could still fire that slot"
                )

    @property
    def retention(self) -> dict[Status, timedelta]:
        """How long finished jobs are kept, per status; a status not here is kept forever."""
        given = {
            Status.DONE: self.retention_done_s,
            Status.FAILED: self.retention_failed_s,
            Status.CANCELLED: self.retention_cancelled_s,
        }
        return {s: timedelta(seconds=v) for s, v in given.items() if v > 0}

    def live_since(self, now: datetime) -> datetime:
        """Daemons that reported after this are live: a daemon reports every reaper tick,
        so three intervals without one mean it is gone (R-F4)."""
        return now - timedelta(seconds=3 * self.reaper_interval_s)

    @property
    def worst_case_recovery_s(self) -> float:
        """R-G8: the longest a dead worker's job waits before another worker adopts it.
        The dead worker's lease ends at most `lease_s` after its last renewal; the reaper's
        next tick, at most `reaper_interval_s` later, clears it; a worker's next claim, at
        most `poll_s` later, adopts it. (A worker restarted under the same name on the
        same host recovers its predecessor's jobs at start-up, at once.)"""
        return self.lease_s + self.reaper_interval_s + self.poll_s

    @property
    def is_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))


_converter = cattrs.Converter(forbid_extra_keys=True)
_converter.register_structure_hook(bool, lambda v, _: _to_bool(v))
_converter.register_structure_hook_func(
    lambda t: t == dict[str, ScheduleConfig],
    lambda v, _: _schedules(v),
)


def _tables(value: Any, section: str, cls: type[Any]) -> dict[str, Any]:
    """[SECTION.NAME] tables, or QRUN_<SECTION> as a JSON object of them."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{section} must be a JSON object of name -> table: {exc}") from None
    if not isinstance(value, Mapping):
        raise ConfigError(f"{section} must be tables [{section}.NAME], got {value!r}")
    out: dict[str, Any] = {}
    for name, spec in value.items():
        try:
            out[name] = _converter.structure(spec, cls)
        except Exception as exc:  # each message names the table it is about
            raise ConfigError(f"{section}.{name}: {'; '.join(_messages(exc))}") from None
    return out


def _schedules(value: Any) -> dict[str, ScheduleConfig]:
    return _tables(value, "schedules", ScheduleConfig)


_converter.register_structure_hook_func(
    lambda t: t == dict[str, PoolConfig],
    lambda v, _: _tables(v, "pools", PoolConfig),
)


_converter.register_structure_hook(
    tuple[str, ...] | None,
    lambda v, _: None if v in (None, "") else tuple(v.split(",") if isinstance(v, str) else v),
)


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"expected true or false, got {value!r}")


def load(
    file: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None, **overrides: Any
) -> Config:
    """The configuration from `file` (TOML, optional; else $QRUN_CONFIG if set), then
    QRUN_<SETTING> environment variables, then `overrides` (e.g. CLI flags)."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    path = file or env.get("QRUN_CONFIG")
    if path:
        try:
            raw.update(tomllib.loads(Path(path).read_text()))
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except IsADirectoryError:
            raise ConfigError(f"config file {path} is a folder; give the path of a TOML file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config file {path} cannot be read: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    names = {f.name for f in attrs.fields(Config)}
    for key, value in env.items():
        if key.startswith("QRUN_") and key != "QRUN_CONFIG" and not key.startswith("QRUN_TEST_"):
            name = key[5:].lower()
            if name not in names:
                raise ConfigError(
                    f"unknown setting {key}; known: {', '.join('QRUN_' + n.upper() for n in sorted(names))}"
                )
            raw[name] = value
    raw.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return _converter.structure(raw, Config)
    except cattrs.ClassValidationError as exc:
        raise ConfigError("invalid configuration: " + "; ".join(_messages(exc))) from None
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None


def _messages(exc: BaseException) -> list[str]:
    """One line per problem, each naming its setting (cattrs groups them)."""
    if isinstance(exc, cattrs.ForbiddenExtraKeysError):
        return [f"unknown setting(s) {', '.join(sorted(exc.extra_fields))}"]
    if isinstance(exc, BaseExceptionGroup):
        return [m for sub in exc.exceptions for m in _messages(sub)]
    notes = [n for n in getattr(exc, "__notes__", []) if "@ attribute " in n]
    name = notes[0].rsplit("@ attribute ", 1)[1] if notes else None
    return [f"{name}: {exc}" if name else str(exc)]
