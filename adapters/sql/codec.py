"""Job <-> row. One flat row per job; nested values (follow-up, payload, result) as JSON
through one private cattrs converter. Times are converted by the store's dialect."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import cattrs

from qrun.core import (
    Backoff,
    Decision,
    DependencyFailure,
    FollowUp,
    Handle,
    Job,
    Lease,
    OrphanPolicy,
    Run,
    Status,
    Step,
    Unique,
)
from qrun.core.errors import InvalidInput

_converter = cattrs.Converter()

FIELD_COLUMNS: dict[str, tuple[str, ...]] = {
    "id": ("id",),
    "kind": ("kind",),
    "queue": ("queue",),
    "payload": ("payload",),
    "status": ("status", "unique_slot"),  # the slot follows the status (Job.unique_slot)
    "priority": ("priority",),
    "attempts": ("attempts",),
    "max_attempts": ("max_attempts",),
    "transient_attempts": ("transient_attempts",),
    "requested_at": ("requested_at",),
    "available_at": ("available_at",),
    "started_at": ("started_at",),
    "finished_at": ("finished_at",),
    "lease": ("lease_worker", "lease_until"),
    "run": ("run_id", "run_epoch", "handle_runner", "handle_ref", "exit_code", "exit_recorded_at"),
    "concurrency_key": ("concurrency_key",),
    "concurrency_limit": ("concurrency_limit",),
    "depends_on": ("depends_on",),
    "follow_up": ("follow_up",),
    "orphan_policy": ("orphan_policy",),
    "cancel_requested": ("cancel_requested",),
    "error": ("error",),
    "result": ("result",),
    "adoptions": ("adoptions",),
    "spawn_failures": ("spawn_failures",),
    "ran_s": ("ran_s",),
    "unique": ("unique_key", "unique_finished"),
    "pool": ("pool",),
    "pool_slot": ("pool_slot",),
    "batch": ("batch",),
    "backoff": ("backoff",),
    "history": ("history",),
    "on_dependency_failure": ("on_dependency_failure",),
    "cancelled_for": ("cancelled_for",),
    "version": ("version",),
}
"""Each Job field and the columns that hold it, in table order."""
COLUMNS: tuple[str, ...] = tuple(c for cols in FIELD_COLUMNS.values() for c in cols)
_TIMES = frozenset({"requested_at", "available_at", "started_at", "finished_at"})


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_STATUS = {s.value: s for s in Status}


def micros(value: datetime) -> int:
    """Microseconds since the epoch: how SQLite stores a time, and how a timeline step
    keeps its time in JSON on both databases (exact, unlike an ISO string's parsing)."""
    if value.tzinfo is None:
        raise InvalidInput(f"naive datetime {value!r}: qrun stores only timezone-aware times")
    return (value - _EPOCH) // _US


def from_micros(value: int) -> datetime:
    return _EPOCH + value * _US


def steps_json(history: tuple[Step, ...]) -> str:
    """The timeline as a JSON array, written out by hand: it is encoded on every write of
    a transition, and the event and status are names that need no escaping."""
    return "[" + ",".join(_step_json(s) for s in history) + "]"


def _step_json(s: Step) -> str:
    worker = "null" if s.worker is None else _encode(s.worker)
    note = "null" if s.note is None else _encode(s.note)
    return (
        f'{{"at":{micros(s.at)},"attempt":{s.attempt},"event":"{s.event}","note":{note},'
        f'"status":"{s.status.value}","worker":{worker}}}'
    )


def _steps_in(value: Any) -> tuple[Step, ...]:
    return tuple(
        Step(from_micros(s["at"]), s["event"], _STATUS[s["status"]], s["attempt"], s["worker"], s["note"])
        for s in value
    )


_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode


def dumps(value: Any) -> str:
    return _encode(value)


def _finished(unique: Unique | None) -> str | None:
    return ",".join(sorted(s.value for s in unique.finished)) if unique else None


def _unique(key: str | None, finished: str | None) -> Unique | None:
    if key is None:
        return None
    return Unique(key, frozenset(Status(s) for s in (finished or "").split(",") if s))


def _backoff(value: Any) -> Backoff:
    return _converter.structure(value, Backoff)


class Codec:
    """Rows for one dialect: `time_out`/`time_in` convert datetimes; `json_in` decodes a
    JSON column as the driver returns it (text for SQLite, already parsed for jsonb)."""

    def __init__(
        self,
        time_out: Callable[[datetime], Any],
        time_in: Callable[[Any], datetime],
        json_out: Callable[[Any], Any] = dumps,
        json_in: Callable[[Any], Any] = json.loads,
        json_text: Callable[[str], Any] = str,
    ) -> None:
        """`json_text` passes JSON the codec encoded itself (the timeline) as a value."""
        self._tout, self._tin, self._jout, self._jin = time_out, time_in, json_out, json_in
        self._jtext = json_text

    def row(self, job: Job) -> tuple[Any, ...]:
        """Every column, in COLUMNS order (written out: this is the bulk-insert hot path)."""
        t, j = self._t, self._jout
        run, lease = job.run, job.lease
        handle = run.handle if run else None
        return (
            job.id,
            job.kind,
            job.queue,
            j(dict(job.payload)),
            job.status.value,
            job.unique_slot,
            job.priority,
            job.attempts,
            job.max_attempts,
            job.transient_attempts,
            t(job.requested_at),
            t(job.available_at),
            t(job.started_at),
            t(job.finished_at),
            lease.worker if lease else None,
            t(lease.until) if lease else None,
            run.id if run else None,
            run.epoch if run else None,
            handle.runner if handle else None,
            handle.ref if handle else None,
            run.exit_code if run else None,
            t(run.exit_recorded_at) if run else None,
            job.concurrency_key,
            job.concurrency_limit,
            j(list(job.depends_on)),
            j(_converter.unstructure(job.follow_up)) if job.follow_up else None,
            job.orphan_policy.value,
            job.cancel_requested,
            job.error,
            j(job.result),
            job.adoptions,
            job.spawn_failures,
            job.ran_s,
            job.unique.key if job.unique else None,
            _finished(job.unique),
            job.pool,
            job.pool_slot,
            job.batch,
            j(_converter.unstructure(job.backoff)) if job.backoff else None,
            self._steps(job.history),
            job.on_dependency_failure.value,
            job.cancelled_for,
            job.version,
        )

    def values(self, job: Job, fields: Iterable[str]) -> tuple[Any, ...]:
        """The column values of `fields`, in the order of `columns(fields)`."""
        out: list[Any] = []
        for name in fields:
            out.extend(self._field(job, name))
        return tuple(out)

    def changes(self, decision: Decision) -> tuple[tuple[str, ...], tuple[Any, ...]]:
        """The columns a compare-and-set write of `decision` must set, and their values:
        only what the decision changed (and the version), or everything if unknown."""
        changed = decision.changed
        fields = [f for f in FIELD_COLUMNS if changed is None or f in changed or f == "version"]
        return self.columns(fields), self.values(decision.job, fields)

    @staticmethod
    def columns(fields: Iterable[str]) -> tuple[str, ...]:
        return tuple(c for name in fields for c in FIELD_COLUMNS[name])

    def _field(self, job: Job, name: str) -> tuple[Any, ...]:
        t, j = self._t, self._jout
        if name == "lease":
            lease = job.lease
            return (lease.worker, t(lease.until)) if lease else (None, None)
        if name == "run":
            run = job.run
            if run is None:
                return (None,) * 6
            handle = run.handle
            return (
                run.id,
                run.epoch,
                handle.runner if handle else None,
                handle.ref if handle else None,
                run.exit_code,
                t(run.exit_recorded_at),
            )
        value = getattr(job, name)
        if name in _TIMES:
            return (t(value),)
        if name == "status":
            return (value.value, job.unique_slot)
        if name == "unique":
            return (value.key if value else None, _finished(value))
        if name in ("orphan_policy", "on_dependency_failure"):
            return (value.value,)
        if name == "payload":
            return (j(dict(value)),)
        if name == "depends_on":
            return (j(list(value)),)
        if name == "follow_up":
            return (j(_converter.unstructure(value)) if value else None,)
        if name == "result":
            return (j(value),)
        if name == "backoff":
            return (j(_converter.unstructure(value)) if value else None,)
        if name == "history":
            return (self._steps(value),)
        return (value,)

    def job(self, row: Sequence[Any]) -> Job:
        r = dict(zip(COLUMNS, row, strict=True))
        t = self._t_in
        run = None
        if r["run_id"] is not None:
            handle = Handle(r["handle_runner"], r["handle_ref"]) if r["handle_runner"] is not None else None
            run = Run(r["run_id"], r["run_epoch"], handle, r["exit_code"], t(r["exit_recorded_at"]))
        lease = (
            Lease(r["lease_worker"], self._tin(r["lease_until"])) if r["lease_worker"] is not None else None
        )
        follow = self._jin(r["follow_up"]) if r["follow_up"] is not None else None
        return Job(
            id=r["id"],
            kind=r["kind"],
            queue=r["queue"],
            payload=self._jin(r["payload"]),
            status=Status(r["status"]),
            priority=r["priority"],
            attempts=r["attempts"],
            max_attempts=r["max_attempts"],
            transient_attempts=r["transient_attempts"],
            requested_at=self._tin(r["requested_at"]),
            available_at=self._tin(r["available_at"]),
            started_at=t(r["started_at"]),
            finished_at=t(r["finished_at"]),
            lease=lease,
            run=run,
            concurrency_key=r["concurrency_key"],
            concurrency_limit=r["concurrency_limit"],
            depends_on=tuple(self._jin(r["depends_on"])),
            follow_up=_converter.structure(follow, FollowUp) if follow is not None else None,
            orphan_policy=OrphanPolicy(r["orphan_policy"]),
            cancel_requested=bool(r["cancel_requested"]),
            error=r["error"],
            result=self._jin(r["result"]) if r["result"] is not None else None,
            adoptions=r["adoptions"],
            spawn_failures=r["spawn_failures"],
            ran_s=float(r["ran_s"]),
            unique=_unique(r["unique_key"], r["unique_finished"]),
            pool=r["pool"],
            pool_slot=r["pool_slot"],
            batch=r["batch"],
            backoff=_backoff(self._jin(r["backoff"])) if r["backoff"] is not None else None,
            history=_steps_in(self._jin(r["history"])),
            on_dependency_failure=DependencyFailure(r["on_dependency_failure"]),
            cancelled_for=r["cancelled_for"],
            version=r["version"],
        )

    def _steps(self, history: tuple[Step, ...]) -> Any:
        return self._jtext(steps_json(history))

    def _t(self, value: datetime | None) -> Any:
        return None if value is None else self._tout(value)

    def _t_in(self, value: Any) -> datetime | None:
        return None if value is None else self._tin(value)
