"""The job and its parts: plain frozen data, changed only through `decide`."""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, NamedTuple

import attrs

from .errors import InvalidCall, InvalidInput
from .policy import Backoff


class Status(enum.Enum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL = frozenset({Status.DONE, Status.FAILED, Status.CANCELLED})


class OrphanPolicy(enum.Enum):
    """What recovery does with a run whose worker died (R-G4)."""

    ADOPT = "adopt"  # hand the live execution to a new worker
    RETRY = "retry"  # run it again (spends an attempt)
    FAIL = "fail"  # end it failed


class DependencyFailure(enum.Enum):
    """What a queued job does when one of its dependencies ends `failed` or `cancelled`."""

    CANCEL = "cancel"  # end `cancelled` too, saying which dependency; a retry of it revives the job
    WAIT = "wait"  # stay queued, for a dependency that will be retried by hand


def _dependency_failure(value: DependencyFailure | str) -> DependencyFailure:
    try:
        return DependencyFailure(value)
    except ValueError:
        known = " or ".join(repr(p.value) for p in DependencyFailure)
        raise InvalidInput(f"on_dependency_failure must be {known}, not {value!r}") from None


class Step(NamedTuple):
    """One entry of a job's timeline: the event `decide` accepted at `at`, the status it
    left the job in, the attempt it belonged to, the worker whose lease it came under (or
    who took the job), and a short note (an error's first line, an exit code, a handle).
    A named tuple, not an attrs class: one is made per transition and read per job row,
    and a tuple is made in a tenth of the time."""

    at: datetime
    event: str
    status: Status
    attempt: int
    worker: str | None = None
    note: str | None = None


@attrs.frozen
class Lease:
    """Who holds a running job, and until when (R-A3, R-A4)."""

    worker: str
    until: datetime


def _no_nul(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if "\x00" in value:
        raise InvalidInput(f"{attribute.name} {value!r} contains a NUL character, which no store can hold")


def without_nul(text: str) -> str:
    """`text` with NUL characters spelled out: PostgreSQL text cannot hold them, and an
    error message must be stored whatever a runner or a task put in it."""
    return text.replace("\x00", "\\x00")


@attrs.frozen
class Handle:
    """Where a run's execution lives, as its runner names it (a pid and start time, a
    container id). Opaque to the core; only the runner that made it reads `ref`."""

    runner: str = attrs.field(validator=_no_nul)
    ref: str = attrs.field(validator=_no_nul)


@attrs.frozen
class Run:
    """One attempt's execution. `epoch` is the fencing token's second half (R-G2): it
    grows on every adoption, so a write from a holder that lost the run is refused."""

    id: str
    epoch: int = 1
    handle: Handle | None = None
    exit_code: int | None = None
    exit_recorded_at: datetime | None = None


def json_problem(value: Any, path: str = "$") -> str | None:
    """Where `value` stops being plain JSON (str, int, float, bool, None, lists, dicts with
    string keys), or None if it is JSON all through. Every store can hold exactly this."""
    if isinstance(value, str):
        return f"{path} contains a NUL character, which no store can hold" if "\x00" in value else None
    if value is None or isinstance(value, bool | int):
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else f"{path} is {value}"
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            if problem := json_problem(item, f"{path}[{i}]"):
                return problem
        return None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return f"{path} has a non-string key {key!r}"
            if "\x00" in key:
                return f"{path} has a key with a NUL character, which no store can hold"
            if problem := json_problem(item, f"{path}.{key}"):
                return problem
        return None
    return f"{path} is a {type(value).__name__}, not JSON"


def _json(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if problem := json_problem(value):
        raise InvalidInput(f"{attribute.name} must be plain JSON: {problem}")


@attrs.frozen
class FollowUp:
    """The next stage to enqueue, exactly once, when this job succeeds (R-B4)."""

    kind: str
    payload: Mapping[str, Any] = attrs.field(factory=dict, validator=_json)
    queue: str = "default"


#: What a submit accepts (every path goes through `Job.new`); the stores' columns hold
#: more, but nobody needs more, and a clear refusal beats a database error.
MAX_NAME = 255  # ids, kinds, queues, keys, pools, batches
MAX_PRIORITY = 2**31 - 1  # either way: PostgreSQL's integer
MAX_ATTEMPTS = 1000
MAX_LIMIT = 2**31 - 1
MAX_DELAY_S = 10 * 365 * 86400.0  # a delay past ten years is a mistake, not a plan


def check_name(what: str, value: str) -> None:
    """A name a user gave: not empty, at most MAX_NAME characters, no control characters
    (NUL cannot be stored at all; the others only confuse logs and terminals)."""
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > MAX_NAME:
        raise InvalidInput(f"{what} is {len(value)} characters long; the limit is {MAX_NAME}")
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise InvalidInput(f"{what} {value!r} holds a control character; use printable characters")


def check_range(what: str, value: int, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{what} must be a whole number from {low} to {high}, got {value!r}")


def check_backoff(backoff: object) -> None:
    """A job's own backoff: a `Backoff` whose delays fit the range of a delay."""
    if not isinstance(backoff, Backoff):
        raise InvalidInput(f"backoff must be a Backoff(base_s=, factor=, cap_s=, jitter=), got {backoff!r}")
    for what in ("base_s", "cap_s"):
        value = getattr(backoff, what)
        if not 0 <= value <= MAX_DELAY_S:
            raise InvalidInput(f"backoff {what} must be from 0 to {MAX_DELAY_S:.0f} seconds, got {value!r}")
    if not backoff.factor <= 1000:
        raise InvalidInput(f"backoff factor must be from 0 to 1000 (exclusive of 0), got {backoff.factor!r}")


def _non_empty(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value:
        raise InvalidInput(f"{attribute.name} must not be empty")


def _positive(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise InvalidInput(f"{attribute.name} must be >= 1, got {value}")


def _not_negative(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 0:
        raise InvalidInput(f"{attribute.name} must be >= 0, got {value}")


def seconds(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    """A validator: a finite, non-negative number of seconds."""
    if not (isinstance(value, int | float) and 0 <= value < math.inf):
        raise InvalidInput(f"{attribute.name} must be a finite number of seconds >= 0, got {value!r}")


def _aware(instance: object, attribute: attrs.Attribute[Any], value: datetime | None) -> None:
    if value is not None and value.tzinfo is None:
        raise InvalidInput(f"{attribute.name} must be timezone-aware, got {value!r}")


def _str_tuple(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


def _steps(value: Iterable[Step]) -> tuple[Step, ...]:
    return tuple(value)


def _finished_states(value: Iterable[Status]) -> frozenset[Status]:
    states = frozenset(value)
    if not states <= TERMINAL:
        wrong = ", ".join(sorted(s.value for s in states - TERMINAL))
        raise InvalidInput(
            f"a unique key always holds while its job is queued or running; `finished` names only "
            f"the finished states that also hold it (done, failed, cancelled), not {wrong}"
        )
    return states


@attrs.frozen
class Unique:
    """Idempotent submission (R-F1): while a job holding `key` exists in a holding state, a
    submit with the same key returns that job instead of adding one. The key holds while
    its job is queued or running, and also after it ends in one of `finished` (say
    `{DONE}`: "run this once, successfully"). Stores enforce it with a unique index on
    `Job.unique_slot`, never with a read before the write."""

    key: str = attrs.field(validator=_non_empty)
    finished: frozenset[Status] = attrs.field(default=frozenset(), converter=_finished_states)

    def holds(self, status: Status) -> bool:
        return not status.terminal or status in self.finished


@attrs.frozen(kw_only=True, slots=False)  # a __dict__: `evolve` copies it in one C call
class Job:
    """A unit of work. Structural rules live in validators (they re-run on every
    `attrs.evolve`); the rules of each status live in `invariants`."""

    id: str = attrs.field(validator=_non_empty)
    kind: str = attrs.field(validator=_non_empty)
    queue: str = attrs.field(default="default", validator=_non_empty)
    # Plain JSON, checked once where it enters (Job.new, Finished), not on every
    # transition: a validator here would walk the whole payload at each state change.
    payload: Mapping[str, Any] = attrs.field(factory=dict)
    status: Status = Status.QUEUED
    priority: int = 0
    attempts: int = attrs.field(default=0, validator=_not_negative)
    max_attempts: int = attrs.field(default=3, validator=_positive)
    transient_attempts: int = attrs.field(default=0, validator=_not_negative)
    requested_at: datetime = attrs.field(validator=_aware)
    available_at: datetime = attrs.field(validator=_aware)
    started_at: datetime | None = attrs.field(default=None, validator=_aware)
    finished_at: datetime | None = attrs.field(default=None, validator=_aware)
    lease: Lease | None = None
    run: Run | None = None
    concurrency_key: str | None = None
    concurrency_limit: int = attrs.field(default=1, validator=_positive)
    depends_on: tuple[str, ...] = attrs.field(default=(), converter=_str_tuple)
    on_dependency_failure: DependencyFailure = attrs.field(
        default=DependencyFailure.CANCEL, converter=_dependency_failure
    )
    # The dependency whose end cancelled this job (DependencyFailure.CANCEL): a retry of
    # that dependency queues this job again.
    cancelled_for: str | None = None
    follow_up: FollowUp | None = None
    orphan_policy: OrphanPolicy = OrphanPolicy.ADOPT
    cancel_requested: bool = False
    error: str | None = None
    result: Any = None
    adoptions: int = attrs.field(default=0, validator=_not_negative)
    # Spawns that failed in a row, before any handle (R-C5); a stamp or an exit resets it.
    spawn_failures: int = attrs.field(default=0, validator=_not_negative)
    # Seconds live workers saw this run running, added up by their heartbeats from their
    # monotonic clocks: what the ceiling counts (R-B3), so a wall clock that jumps cannot
    # make a young run look old. A fresh run starts at 0; an adoption keeps it.
    ran_s: float = attrs.field(default=0.0, validator=seconds)
    unique: Unique | None = None
    # R-E3: the pool this job needs a slot of, and the slot it holds while running (the
    # claim takes it; every way out of `running` gives it back, in the same write).
    pool: str | None = attrs.field(default=None, validator=attrs.validators.optional(_non_empty))
    pool_slot: int | None = attrs.field(default=None, validator=attrs.validators.optional(_not_negative))
    batch: str | None = attrs.field(default=None, validator=attrs.validators.optional(_non_empty))
    # The job's own delays between retries (a task's `backoff=`); None: the policy's.
    backoff: Backoff | None = None
    # Every accepted event but heartbeats, oldest first, the last `timeline.KEPT` of them:
    # written with the transition itself, so the timeline cannot disagree with the row.
    history: tuple[Step, ...] = attrs.field(default=(), converter=_steps)
    version: int = attrs.field(default=1, validator=_positive)

    @classmethod
    def new(
        cls,
        *,
        id: str,
        kind: str,
        now: datetime,
        payload: Mapping[str, Any] | None = None,
        queue: str = "default",
        priority: int = 0,
        max_attempts: int = 3,
        available_at: datetime | None = None,
        concurrency_key: str | None = None,
        concurrency_limit: int = 1,
        depends_on: tuple[str, ...] = (),
        on_dependency_failure: DependencyFailure | str = DependencyFailure.CANCEL,
        follow_up: FollowUp | None = None,
        orphan_policy: OrphanPolicy = OrphanPolicy.ADOPT,
        unique: Unique | None = None,
        pool: str | None = None,
        batch: str | None = None,
        backoff: Backoff | None = None,
    ) -> Job:
        """A freshly submitted job: `queued`, clean, `requested_at` stamped (R-A1, R-A9).
        What a user gave is checked here, so every way in refuses the same: names (see
        `check_name`) and the ranges of priority, attempts and the concurrency limit."""
        names = {"id": id, "kind": kind, "queue": queue, "concurrency_key": concurrency_key, "pool": pool}
        names |= {"batch": batch, "unique key": unique.key if unique else None}
        for what, value in names.items():
            if value is not None:
                check_name(what, value)
        for dep in depends_on:
            check_name("depends_on id", dep)
        check_range("priority", priority, -MAX_PRIORITY, MAX_PRIORITY)
        check_range("max_attempts", max_attempts, 1, MAX_ATTEMPTS)
        check_range("concurrency_limit", concurrency_limit, 1, MAX_LIMIT)
        if id in depends_on:
            raise InvalidInput(f"job {id} cannot depend on itself")
        if problem := json_problem(payload or {}):
            raise InvalidInput(f"payload must be plain JSON: {problem}")
        if backoff is not None:
            check_backoff(backoff)
        return cls(
            id=id,
            kind=kind,
            queue=queue,
            payload=dict(payload or {}),
            priority=priority,
            max_attempts=max_attempts,
            requested_at=now,
            available_at=max(now, available_at) if available_at is not None else now,
            concurrency_key=concurrency_key,
            concurrency_limit=concurrency_limit,
            depends_on=depends_on,
            on_dependency_failure=on_dependency_failure,
            follow_up=follow_up,
            orphan_policy=orphan_policy,
            unique=unique,
            pool=pool,
            batch=batch,
            backoff=backoff,
        )

    @property
    def unique_slot(self) -> str | None:
        """The unique key this job holds now, or None: at most one job holds a slot."""
        u = self.unique
        return u.key if u is not None and u.holds(self.status) else None

    @property
    def holding(self) -> tuple[str, int] | None:
        """The (pool, slot) this job holds now, or None (R-E3)."""
        if self.status is Status.RUNNING and self.pool is not None and self.pool_slot is not None:
            return (self.pool, self.pool_slot)
        return None

    @property
    def adoptable(self) -> bool:
        """Running with its lease cleared: the next claim hands it out first (R-A3)."""
        return self.status is Status.RUNNING and self.lease is None

    @property
    def clean(self) -> bool:
        """No run, no handle, no lease, no start stamp (R-C1)."""
        return self.run is None and self.lease is None and self.started_at is None

    def holds(self, worker: str) -> bool:
        return self.lease is not None and self.lease.worker == worker

    def evolve(self, **changes: Any) -> Job:
        """`attrs.evolve(self, **changes)`, without re-running the checks of the fields
        that did not change (they held when this job was made). Every transition makes
        one, so it is the core's hot path: about a third of `attrs.evolve`'s cost."""
        new = object.__new__(Job)
        values = new.__dict__
        values.update(self.__dict__)
        for name, given in changes.items():
            check = _JOB_CHECKS.get(name, _UNKNOWN)
            if check is _UNKNOWN:
                raise InvalidCall(f"Job has no field {name!r}")
            value = given
            if check is not None:
                convert, validate, field = check
                if convert is not None:
                    value = convert(given)
                if validate is not None:
                    validate(new, field, value)
            values[name] = value
        return new

    def fenced_by(self, token: Fence) -> bool:
        """Whether the holder of `token` may still act on this job's run (R-G2): it holds
        the lease, on the same run, at the same epoch (an adoption bumps the epoch)."""
        run = self.run
        return (
            self.status is Status.RUNNING
            and self.holds(token.worker)
            and run is not None
            and (run.id, run.epoch) == (token.run_id, token.epoch)
        )


@attrs.frozen
class Fence:
    """A fencing token: who holds which run, at which epoch (R-G2)."""

    worker: str
    run_id: str
    epoch: int

    @classmethod
    def of(cls, job: Job) -> Fence:
        assert job.lease is not None and job.run is not None, "only a leased run has a fence"
        return cls(job.lease.worker, job.run.id, job.run.epoch)


_UNKNOWN = object()
_JOB_CHECKS: dict[str, Any] = {
    a.name: (a.converter, a.validator, a) if a.converter is not None or a.validator is not None else None
    for a in attrs.fields(Job)
}
