"""What can happen to a job. Each event is a small frozen fact; `decide` judges it."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

import attrs

from .job import Handle, Status, seconds, without_nul


@attrs.frozen
class Claim:
    """A worker takes a queued job under a lease, as run `run_id` (R-A3, R-C2). A job
    that needs a pool takes `slot` of it in the same step (R-E3)."""

    worker: str
    run_id: str
    lease_until: datetime
    slot: int | None = None


@attrs.frozen
class Adopt:
    """A worker takes over a running job whose lease was cleared (R-A3, R-A6, R-G2)."""

    worker: str
    lease_until: datetime


@attrs.frozen
class Spawned:
    """The runner started the execution; only now is the handle stamped (R-C2)."""

    handle: Handle


@attrs.frozen
class SpawnFailed:
    """The runner could not start the execution; no handle was ever stamped (R-C5).
    `transient`: the runner is unavailable for now (R-C8), so retry after a backoff."""

    error: str = attrs.field(converter=without_nul)
    transient: bool = False


@attrs.frozen
class Heartbeat:
    """The lease holder extends its lease (R-A4, R-G3) and reports `ran_s`, the seconds
    it saw the run running since its last renewal, by its own monotonic clock (R-B3)."""

    worker: str
    lease_until: datetime
    ran_s: float = attrs.field(default=0.0, validator=seconds)


@attrs.frozen
class LeaseExpired:
    """The lease ran out; the job becomes adoptable (R-A5)."""


@attrs.frozen
class Release:
    """The lease holder gives the job up alive, e.g. on shutdown, so another worker
    adopts it (R-E4)."""

    worker: str


@attrs.frozen
class Recover:
    """Start-up: jobs left running by `previous_worker` become adoptable (R-B11, R-G1)."""

    previous_worker: str


@attrs.frozen
class Exited:
    """The execution's exit code was recorded; the job is finalizing (R-B5)."""

    code: int


@attrs.frozen
class Finished:
    """The run succeeded with `result`."""

    result: Any = None


@attrs.frozen
class Failed:
    """The run failed. `transient` (overloaded, rate-limited) spends no attempt (R-C8);
    `final` (retrying cannot help: a workflow session that failed) ends it `failed` now."""

    error: str = attrs.field(converter=without_nul)
    transient: bool = False
    final: bool = False


@attrs.frozen
class NothingToAdopt:
    """The runner found no execution to adopt for an adopted job (R-A6)."""


class ReapReason(enum.Enum):
    DEAD = "dead"  # tier 1: dead for `dead_ticks` observations (R-B1)
    CEILING = "ceiling"  # tier 3: running past `max_running_s` (R-B3)
    EXIT_OK = "exit_ok"  # tier 2: exit 0 and the success gate is green (R-B4)
    EXIT_OK_GATE_RED = "exit_ok_gate_red"  # tier 2: exit 0, gate red (R-B4)
    EXIT_OK_ADVANCED = "exit_ok_advanced"  # tier 2: exit 0, follow-up already done (R-B4)
    EXIT_FAILED = "exit_failed"  # tier 2: non-zero exit (R-B4)


@attrs.frozen
class Reap:
    """The reaper's verdict on a running job, from `reaper.assess` (R-B1..B5, R-B7)."""

    reason: ReapReason


@attrs.frozen
class Cancel:
    """Stop the job: a queued one never starts; a running one is killed (R-F1)."""


@attrs.frozen
class Sanitize:
    """Heal an impossible state found by `invariants.violations` (R-C4)."""


@attrs.frozen
class Retry:
    """Give a failed or cancelled job a fresh set of attempts."""


@attrs.frozen
class DependencyEnded:
    """A dependency of a queued job ended `failed` or `cancelled`: the job ends
    `cancelled` for it, unless it waits for a retry (`DependencyFailure.WAIT`)."""

    dependency: str
    status: Status


@attrs.frozen
class DependencyRetried:
    """The dependency a job was cancelled for was retried: the job is queued again with
    fresh attempts, unless another of its dependencies also ended failed or cancelled
    (`others`, with how each ended): then it stays cancelled, now for that one."""

    dependency: str
    others: tuple[tuple[str, Status], ...] = ()


Event = (
    Claim
    | Adopt
    | Spawned
    | SpawnFailed
    | Heartbeat
    | LeaseExpired
    | Release
    | Recover
    | Exited
    | Finished
    | Failed
    | NothingToAdopt
    | Reap
    | Cancel
    | Sanitize
    | Retry
    | DependencyEnded
    | DependencyRetried
)

EVENT_TYPES: tuple[type[Event], ...] = (
    Claim,
    Adopt,
    Spawned,
    SpawnFailed,
    Heartbeat,
    LeaseExpired,
    Release,
    Recover,
    Exited,
    Finished,
    Failed,
    NothingToAdopt,
    Reap,
    Cancel,
    Sanitize,
    Retry,
    DependencyEnded,
    DependencyRetried,
)
