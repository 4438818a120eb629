"""The Protocols a store implements (`JobStore` and the optional ones), and the plain
attrs results they return, so a third-party store needs nothing but attrs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import attrs

from .batch import BatchSummary
from .claim import ClaimRequest
from .daemons import DaemonSeen
from .decision import Decision
from .errors import InvalidInput, NotFound
from .job import Job, Status
from .pools import Pool
from .topics import EventStatus, Settle, TopicEvent
from .workflow import HandlerRun


# -- store results ---------------------------------------------------------------------
@attrs.frozen
class Applied:
    """The decision was written; `job` is what is stored now. `then`: what the store
    decided and wrote in the same transaction because of it (the jobs that depend on it,
    ended or revived: `adapters.dependents.settle`), whose external effects (their
    notifications, their inputs deleted) the caller carries out like the decision's own.
    It is not part of equality: a result is the write."""

    job: Job
    then: tuple[Decision, ...] = attrs.field(default=(), eq=False)


@attrs.frozen
class Conflict:
    """The stored version was not the expected one; `current` is what is stored (None if
    the job does not exist). The caller drops the decision's effects (R-B6)."""

    current: Job | None


ApplyResult = Applied | Conflict


@attrs.frozen
class JobFilter:
    status: Status | None = None
    queue: str | None = None
    kind: str | None = None
    batch: str | None = None
    limit: int = 100
    #: The id of the last job of the previous page (one deleted since ends the listing).
    after: str | None = None
    #: The newest submitted first, by `requested_at` then id (what people read: ids of
    #: schedules and of callers' own choosing say nothing of time); `after` pages down.
    #: `oldest_first`: the other way. Neither: by id, to page through every job.
    newest_first: bool = False
    oldest_first: bool = False

    def __attrs_post_init__(self) -> None:
        if self.newest_first and self.oldest_first:
            raise InvalidInput("a listing is newest_first or oldest_first, not both")

    @property
    def by_time(self) -> bool:
        return self.newest_first or self.oldest_first

    def key(self, job: Job) -> tuple[Any, ...]:
        """Where `job` sorts in this listing (ascending; `newest_first` reads it backwards)."""
        return (job.requested_at, job.id) if self.by_time else (job.id,)

    def start(self, lookup: Callable[[str], Job | None]) -> tuple[Any, ...] | None:
        """The key this page starts past: `after`'s (by time, the job it names, read with
        `lookup`), or None for the first page. Raises LookupError if that job is gone."""
        if self.after is None:
            return None
        if not self.by_time:
            return (self.after,)
        cursor = lookup(self.after)
        if cursor is None:
            raise NotFound(self.after)
        return self.key(cursor)

    def page(self, jobs: Iterable[Job], lookup: Callable[[str], Job | None]) -> list[Job]:
        """This listing's page of `jobs` (already filtered by status, queue, kind and
        batch): sorted, past `after`, at most `limit`. How the reference stores list."""
        try:
            start = self.start(lookup)
        except LookupError:
            return []
        newest = self.newest_first
        past = [j for j in jobs if start is None or (self.key(j) < start if newest else self.key(j) > start)]
        return sorted(past, key=self.key, reverse=newest)[: self.limit]


@runtime_checkable
class JobStore(Protocol):
    """Durable home of jobs. Every write is a compare-and-set on the job's version, with
    the decision's durable effects in the same transaction. Time is always passed in."""

    def submit(self, jobs: Sequence[Job]) -> list[str]:
        """Insert all of `jobs` atomically, or none (DuplicateJob, UnknownDependency).
        Returns one id per job: its own, or, for a job whose unique key another job holds
        (R-F1), that job's id, and nothing is inserted for it; a later job of the batch
        depending on it depends on the holder instead."""

    def claim(self, request: ClaimRequest) -> list[Decision]:
        """Take up to `request.limit` jobs for its worker, as `core.claim.pick` orders them, each
        through `decide` (Claim or Adopt) in the same transaction; returns the applied
        decisions, whose external effects the caller carries out. Only jobs of `queues`
        are taken, of jobs that need a pool only those of `pools`, and only jobs of `kinds`
        (None: any), so a worker never takes a job whose pool it has no resources for, nor
        one it has no runner or task for (see `in_scope`)."""

    def apply(self, decision: Decision) -> ApplyResult:
        """Write `decision.job` if the stored version is `decision.expected_version`,
        with its durable effects, atomically."""

    def apply_many(self, decisions: Sequence[Decision]) -> list[ApplyResult]:
        """`apply` for many decisions in one transaction (one round trip where the
        database allows): each is checked against its own expected version, in order, as
        if applied one after another; the winners' durable effects are written in the
        same transaction and the losers leave nothing behind. One result per decision,
        in order. A UniqueConflict refuses the whole batch (nothing is written)."""

    def heartbeat(
        self,
        worker: str,
        job_ids: Sequence[str],
        *,
        lease_until: datetime,
        now: datetime,
        ran_s: float = 0.0,
    ) -> frozenset[str]:
        """Extend the leases `worker` still holds among `job_ids` (R-A4) and add `ran_s`
        to the time each was seen running (R-B3), as `decide(Heartbeat)` does; the rest
        are lost."""

    def sweep_stale_leases(self, now: datetime) -> int:
        """Clear the leases of running jobs that expired by `now` (R-A5)."""

    def prune(self, now: datetime, keep: Mapping[Status, timedelta], *, limit: int) -> int:
        """Delete up to `limit` finished jobs past retention that no remaining job depends
        on (`core.retention`), without blocking claims; returns how many (R-F3)."""

    def pause(self, queue: str) -> None:
        """Hand out no queued job of `queue` until `resume` (R-F3); its jobs stay."""

    def resume(self, queue: str) -> None: ...

    def paused(self) -> frozenset[str]: ...

    def set_pool(self, name: str, size: int) -> None:
        """Declare pool `name` with `size` slots, or resize it (R-E3). Shrinking never takes
        a slot from a running job; slots past the new size are just not handed out again."""

    def pools(self) -> Mapping[str, Pool]:
        """Every declared pool, with who holds which slot."""

    def batch(self, batch: str) -> BatchSummary:
        """Counts per status and durations of the jobs of `batch` (R-E1), from the store."""

    def clear_batch(self, batch: str) -> int:
        """Delete the jobs of a finished batch; returns how many. Raises BatchNotFinished
        (deleting nothing) while one of them is open or a job outside it depends on one."""

    def get(self, job_id: str) -> Job | None: ...

    def list(self, where: JobFilter = JobFilter()) -> list[Job]:
        """Jobs matching `where`, ordered by id, at most `where.limit`, after `where.after`."""

    def counts(self) -> Mapping[tuple[str, Status], int]:
        """How many jobs per (queue, status)."""

    def finished_counts(self, since: datetime) -> Mapping[tuple[str, Status], int]:
        """How many jobs ended (done, failed or cancelled) at or after `since`, per (queue,
        status): throughput and failure rates without reading the jobs."""

    def close(self) -> None: ...


@runtime_checkable
class NameHold(Protocol):
    """A daemon's hold on its name, asked every heartbeat (R-G1)."""

    def held(self) -> bool:
        """Whether the name is still this holder's. A hold that lives on a connection (a
        PostgreSQL session lock) ends with the connection, through a server restart, a
        failover, a terminated backend or a proxy's idle timeout, while its holder lives:
        then False, and False when the store cannot tell. Answers within seconds."""


@runtime_checkable
class NameLocks(Protocol):
    """Daemon names, each held by at most one live daemon across every process and host
    using the store (R-G1). A hold is no proof that earlier holders are dead: it may have
    been lost and taken while they lived (see `core.daemons.proven_dead`)."""

    def lock_name(self, name: str) -> AbstractContextManager[NameHold]:
        """Hold `name` while the context is open; NameTaken if a live holder has it. A
        holder that dies (even by kill -9) releases it."""


@runtime_checkable
class Examinable(Protocol):
    """Optional: the open jobs that may need care, found by the database, so `qrun
    doctor` reads those rather than every job. A superset is allowed (the doctor judges
    each); missing one is not."""

    def suspects(self, now: datetime, limit: int, after: str | None = None) -> list[Job]:
        """Up to `limit` queued or running jobs, by id past `after`, that may need care
        (`core.invariants.needs_care`): an impossible state, a lease that ended before
        `now`, or a dependency that failed, was cancelled or does not exist."""


@runtime_checkable
class DaemonRegistry(Protocol):
    """Optional: what live daemons report of themselves every few seconds (their slots in
    use, where they run), so an operator sees every host's daemons in one place (R-F4).
    It is read only by people: a daemon that stops reporting is just not listed."""

    def report(self, daemon: DaemonSeen) -> None:
        """Store `daemon`'s report in place of its last one (by id), and drop reports
        older than `FORGOTTEN_AFTER` before its `seen_at`."""

    def daemons(self, since: datetime) -> list[DaemonSeen]:
        """The reports seen at or after `since`, by name, host and id."""

    def forget(self, daemon_id: str) -> None:
        """A daemon that stops: its report goes at once."""


@runtime_checkable
class AsyncStore(Protocol):
    """Optional: a store with async connections of its own, so asyncio code submits and
    reads without a thread, and whose submit joins the caller's own open transaction
    (R-F5) on a sync or an async connection of its database: the jobs exist only if the
    caller commits, and a refused submit leaves the caller's transaction usable."""

    def submit(self, jobs: Sequence[Job], *, connection: Any = None) -> list[str]: ...

    async def submit_async(self, jobs: Sequence[Job], *, connection: Any = None) -> list[str]: ...

    async def get_async(self, job_id: str) -> Job | None: ...


@runtime_checkable
class ApplyThenClaim(Protocol):
    """Optional: a store that writes a batch of decisions and then claims, as `apply_many`
    followed by `claim` would, in one transaction where it can (one round trip and one
    commit on PostgreSQL): a worker's finished runs free their slots and the next jobs
    are taken at once. A store without it gets the two calls."""

    def apply_then_claim(
        self, decisions: Sequence[Decision], request: ClaimRequest
    ) -> tuple[list[ApplyResult], list[Decision]]: ...


@runtime_checkable
class EventStore(Protocol):
    """Topics and their events (R-D4), by the rules of `core.topics`: every change is one
    atomic, guarded step, so an event is never lost and never consumed twice."""

    def publish(self, events: Sequence[TopicEvent]) -> None:
        """Store all of `events` as pending, atomically, or none (DuplicateEvent)."""

    def reserve(
        self, topic: str, consumer: str, *, limit: int, now: datetime, until: datetime
    ) -> list[TopicEvent]:
        """Reserve up to `limit` available events of `topic` (pending, or reserved with
        a reservation over by `now`), oldest first, for `consumer` until `until`."""

    def settle(
        self, ids: Sequence[str], consumer: str, how: Settle, *, now: datetime, note: str | None = None
    ) -> list[str]:
        """Consume, release or skip those of `ids` that `consumer` holds; returns their ids."""

    def events(self, topic: str, status: EventStatus | None = None, *, limit: int = 1000) -> list[TopicEvent]:
        """Events of `topic`, oldest first."""

    def available(self, topic: str, now: datetime) -> int:
        """How many events of `topic` a reserve at `now` could hand out."""


@runtime_checkable
class SessionStore(Protocol):
    """The durable progress of workflow sessions (R-D5, R-D7, R-D8): each handler run, so
    a resumed session continues where it stopped and its cost can be summed."""

    def record_run(self, session_id: str, run: HandlerRun) -> None:
        """Store `run`; a run of the same handler in the same iteration is replaced."""

    def handler_runs(self, session_id: str) -> list[HandlerRun]:
        """The session's runs by iteration, then start time, then handler."""

    def set_workflow_error(self, workflow: str, error: str | None, now: datetime) -> None:
        """Put `workflow` in error (R-D2), or, with None, take it out."""

    def workflow_errors(self) -> Mapping[str, tuple[str, datetime]]:
        """Workflows in error: name -> (the error, since when)."""


@runtime_checkable
class WorkflowStore(JobStore, EventStore, SessionStore, Protocol):
    """What workflows need of a store: its jobs, its topics and its sessions' progress."""


class Listener(Protocol):
    def wait(self, timeout_s: float) -> bool:
        """True when jobs may have been submitted since the last wait."""


@runtime_checkable
class Listens(Protocol):
    """Optional: a store that tells a waiting worker when jobs are submitted (PostgreSQL's
    LISTEN/NOTIFY), so it starts them without waiting for its next poll. A poller must
    still poll: a pooler in transaction mode drops LISTEN (R-G6)."""

    def listen(self) -> AbstractContextManager[Listener]: ...


@runtime_checkable
class Opens(Protocol):
    """Optional: a store made with `open=False` connects (and checks its schema) only in
    `open()` or on first use, so an app can be built with its database down."""

    def open(self) -> None:
        """Connect now and check the schema's version; a no-op once open."""
