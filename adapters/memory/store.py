"""The reference store: everything in a dict behind one lock.

It is a real adapter, shipped in the wheel and held to the same contract suite as the
SQL stores; the contract's state machine uses it as the oracle the others must match.
Each method holds the lock for its whole duration, which is what makes claim, apply and
heartbeat atomic here (a transaction is the lock).
"""

from __future__ import annotations

import builtins
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta

from returns.result import Success

from qrun.core import ClaimRequest, Decision, EnqueueJob, Heartbeat, Job, LeaseExpired, Status, decide
from qrun.core.batch import BatchSummary, clear_refusal, summarize
from qrun.core.claim import decide_picks, pick
from qrun.core.daemons import FORGOTTEN_AFTER, DaemonSeen
from qrun.core.dependents import at_submit
from qrun.core.invariants import needs_care
from qrun.core.pools import Pool, check_size, holders, states
from qrun.core.ports import (
    Applied,
    ApplyResult,
    BatchNotFinished,
    Conflict,
    DuplicateEvent,
    JobFilter,
    NameHold,
    NameTaken,
    UniqueConflict,
    unique_conflict_message,
)
from qrun.core.retention import expired
from qrun.core.submission import check, resolve
from qrun.core.topics import EventStatus, Settle, TopicEvent, reserve, settle
from qrun.core.workflow import HandlerRun, run_order

from .. import dependents


class MemoryStore:
    """A thread-safe, in-process JobStore. Nothing survives the process."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._jobs: dict[str, Job] = {}
        self._open: dict[str, None] = {}  # queued or running ids, in insertion order
        self._slots: dict[str, str] = {}  # unique slot -> the id of the job holding it
        self._paused: set[str] = set()
        self._pool_sizes: dict[str, int] = {}
        self._events: dict[str, TopicEvent] = {}
        self._runs: dict[str, dict[tuple[int, str], HandlerRun]] = {}
        self._errors: dict[str, tuple[str, datetime]] = {}
        self._names: set[str] = set()
        self._daemons: dict[str, DaemonSeen] = {}

    # -- writes ----------------------------------------------------------------------
    def submit(self, jobs: Sequence[Job]) -> list[str]:
        with self._lock:
            fresh, ids = resolve(jobs, self._slots.get)
            check(fresh, lambda ids: {i for i in ids if i in self._jobs})
            for job in at_submit(fresh, lambda i: j.status if (j := self._jobs.get(i)) else None):
                self._put(job)
            return ids

    def claim(self, request: ClaimRequest) -> list[Decision]:
        worker, limit, now, lease_until = request.worker, request.limit, request.now, request.lease_until
        policy, queues, pools, kinds = request.policy, request.queues, request.pools, request.kinds
        with self._lock:
            live = [self._jobs[i] for i in self._open]
            running = Counter(
                j.concurrency_key
                for j in live
                if j.status is Status.RUNNING and j.concurrency_key is not None
            )
            chosen = pick(
                live,
                paused=frozenset(self._paused),
                now=now,
                limit=limit,
                running_per_key={k: n for k, n in running.items() if k is not None},
                is_done=self._is_done,
                queues=frozenset(queues) if queues is not None else None,
                pools=states(self._pool_sizes, holders(live)),
                served_pools=frozenset(pools) if pools is not None else None,
                kinds=frozenset(kinds) if kinds is not None else None,
            )
            out = decide_picks(chosen, worker, lease_until, now, policy)
            for decision in out.writes:
                self._write(decision)
            dependents.settle(out.writes, _Rows(self))
            return out

    def apply(self, decision: Decision) -> ApplyResult:
        return self.apply_many([decision])[0]

    def apply_many(self, decisions: Sequence[Decision]) -> list[ApplyResult]:
        with self._lock:
            # Checked in full before anything is written (a refused batch leaves no trace),
            # against what the batch itself wrote so far: only the touched entries are kept
            # aside, so a batch costs what it touches, not the size of the store.
            jobs: dict[str, Job | None] = {}
            slots: dict[str, str | None] = {}
            out: list[ApplyResult] = []
            for decision in decisions:
                job = decision.job
                current = jobs[job.id] if job.id in jobs else self._jobs.get(job.id)
                if current is None or current.version != decision.expected_version:
                    out.append(Conflict(current))
                    continue
                slot = job.unique_slot
                holder = None if slot is None else slots[slot] if slot in slots else self._slots.get(slot)
                if slot is not None and holder not in (None, job.id):
                    raise UniqueConflict(unique_conflict_message(job, str(holder)))
                if current.unique_slot is not None and current.unique_slot != slot:
                    slots[current.unique_slot] = None
                if slot is not None:
                    slots[slot] = job.id
                jobs[job.id] = job
                out.append(Applied(job))
            won = [d for d, result in zip(decisions, out, strict=True) if isinstance(result, Applied)]
            for decision in won:
                self._write(decision)
            return dependents.attached(decisions, out, dependents.settle(won, _Rows(self)))

    def apply_then_claim(
        self, decisions: Sequence[Decision], request: ClaimRequest
    ) -> tuple[list[ApplyResult], list[Decision]]:
        with self._lock:
            return self.apply_many(decisions), self.claim(request)

    def heartbeat(
        self,
        worker: str,
        job_ids: Sequence[str],
        *,
        lease_until: datetime,
        now: datetime,
        ran_s: float = 0.0,
    ) -> frozenset[str]:
        beat = Heartbeat(worker, lease_until, ran_s)
        with self._lock:
            kept: set[str] = set()
            for job_id in job_ids:
                job = self._jobs.get(job_id)
                if job is None:
                    continue
                result = decide(job, beat, now)
                if isinstance(result, Success):
                    self._write(result.unwrap())
                    kept.add(job_id)
            return frozenset(kept)

    def sweep_stale_leases(self, now: datetime) -> int:
        with self._lock:
            cleared = 0
            for job_id in list(self._open):
                job = self._jobs[job_id]
                if job.status is Status.RUNNING and job.lease is not None and job.lease.until <= now:
                    result = decide(job, LeaseExpired(), now)
                    if isinstance(result, Success):
                        self._write(result.unwrap())
                        cleared += 1
            return cleared

    def prune(self, now: datetime, keep: Mapping[Status, timedelta], *, limit: int) -> int:
        with self._lock:
            needed = {d for j in self._jobs.values() for d in j.depends_on}
            gone = sorted(
                (j for j in self._jobs.values() if j.id not in needed and expired(j, keep, now)),
                key=lambda j: (j.finished_at, j.id),
            )[: max(limit, 0)]
            for job in gone:
                del self._jobs[job.id]
                if job.unique_slot is not None:
                    self._slots.pop(job.unique_slot, None)
            return len(gone)

    def pause(self, queue: str) -> None:
        with self._lock:
            self._paused.add(queue)

    def resume(self, queue: str) -> None:
        with self._lock:
            self._paused.discard(queue)

    def paused(self) -> frozenset[str]:
        with self._lock:
            return frozenset(self._paused)

    def set_pool(self, name: str, size: int) -> None:
        check_size(name, size)
        with self._lock:
            self._pool_sizes[name] = size

    def pools(self) -> Mapping[str, Pool]:
        with self._lock:
            held = holders(self._jobs[i] for i in self._open)
            return {n: Pool(n, size, held.get(n, {})) for n, size in sorted(self._pool_sizes.items())}

    def batch(self, batch: str) -> BatchSummary:
        with self._lock:
            rows = [(j.status, j.started_at, j.finished_at) for j in self._jobs.values() if j.batch == batch]
            return summarize(batch, rows)

    def clear_batch(self, batch: str) -> int:
        with self._lock:
            members = {i: j for i, j in self._jobs.items() if j.batch == batch}
            needed_by = {
                dep: j.id
                for j in self._jobs.values()
                if j.batch != batch
                for dep in j.depends_on
                if dep in members
            }
            why = clear_refusal(batch, (i for i, j in members.items() if not j.status.terminal), needed_by)
            if why:
                raise BatchNotFinished(why)
            for job_id, job in members.items():
                del self._jobs[job_id]
                if job.unique_slot is not None:
                    self._slots.pop(job.unique_slot, None)
            return len(members)

    # -- topics and events (R-D4) ------------------------------------------------------
    def publish(self, events: Sequence[TopicEvent]) -> None:
        with self._lock:
            ids = [e.id for e in events]
            clash = sorted({i for i in ids if i in self._events or ids.count(i) > 1})
            if clash:
                raise DuplicateEvent(f"event id(s) exist already: {', '.join(clash)}")
            self._events.update((e.id, e) for e in events)

    def reserve(
        self, topic: str, consumer: str, *, limit: int, now: datetime, until: datetime
    ) -> list[TopicEvent]:
        if until <= now:
            return []  # a reservation over before it starts takes nothing (as the SQL stores)
        with self._lock:
            ready = sorted(
                (e for e in self._events.values() if e.topic == topic and e.available(now)),
                key=lambda e: (e.published_at, e.id),
            )[: max(limit, 0)]
            taken = [reserve(e, consumer, now, until) for e in ready]
            self._events.update((e.id, e) for e in taken)
            return taken

    def settle(
        self, ids: Sequence[str], consumer: str, how: Settle, *, now: datetime, note: str | None = None
    ) -> list[str]:
        with self._lock:
            done: list[str] = []
            for event_id in dict.fromkeys(ids):
                event = self._events.get(event_id)
                if (
                    event is not None
                    and event.status is EventStatus.RESERVED
                    and event.reserved_by == consumer
                ):
                    self._events[event_id] = settle(event, consumer, how, now, note)
                    done.append(event_id)
            return done

    def events(self, topic: str, status: EventStatus | None = None, *, limit: int = 1000) -> list[TopicEvent]:
        with self._lock:
            found = sorted(
                (e for e in self._events.values() if e.topic == topic and status in (None, e.status)),
                key=lambda e: (e.published_at, e.id),
            )
            return found[:limit]

    def available(self, topic: str, now: datetime) -> int:
        with self._lock:
            return sum(1 for e in self._events.values() if e.topic == topic and e.available(now))

    # -- workflow sessions (R-D5, R-D7, R-D8) -------------------------------------------
    def record_run(self, session_id: str, run: HandlerRun) -> None:
        with self._lock:
            self._runs.setdefault(session_id, {})[(run.iteration, run.handler)] = run

    def handler_runs(self, session_id: str) -> list[HandlerRun]:
        with self._lock:
            return sorted(self._runs.get(session_id, {}).values(), key=run_order)

    def set_workflow_error(self, workflow: str, error: str | None, now: datetime) -> None:
        with self._lock:
            if error is None:
                self._errors.pop(workflow, None)
            else:
                self._errors[workflow] = (error, now)

    def workflow_errors(self) -> Mapping[str, tuple[str, datetime]]:
        with self._lock:
            return dict(sorted(self._errors.items()))

    # -- reads -----------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def list(self, where: JobFilter = JobFilter()) -> list[Job]:
        with self._lock:
            return where.page(
                (
                    j
                    for j in self._jobs.values()
                    if (where.status is None or j.status is where.status)
                    and (where.queue is None or j.queue == where.queue)
                    and (where.kind is None or j.kind == where.kind)
                    and (where.batch is None or j.batch == where.batch)
                ),
                self._jobs.get,
            )

    def suspects(self, now: datetime, limit: int, after: str | None = None) -> builtins.list[Job]:
        with self._lock:
            status = lambda i: j.status if (j := self._jobs.get(i)) else None  # noqa: E731
            found = [
                job
                for i in sorted(self._open)
                if (after is None or i > after) and needs_care(job := self._jobs[i], now, status)
            ]
            return found[:limit]

    def counts(self) -> Mapping[tuple[str, Status], int]:
        with self._lock:
            return dict(Counter((j.queue, j.status) for j in self._jobs.values()))

    def finished_counts(self, since: datetime) -> Mapping[tuple[str, Status], int]:
        with self._lock:
            ended = (
                j
                for j in self._jobs.values()
                if j.status.terminal and j.finished_at and j.finished_at >= since
            )
            return dict(Counter((j.queue, j.status) for j in ended))

    def close(self) -> None:
        """Nothing to release; present for the port."""

    # -- live daemons (R-F4) ---------------------------------------------------------------
    def report(self, daemon: DaemonSeen) -> None:
        with self._lock:
            gone = daemon.seen_at - FORGOTTEN_AFTER
            self._daemons = {i: d for i, d in self._daemons.items() if d.seen_at >= gone}
            self._daemons[daemon.id] = daemon

    def daemons(self, since: datetime) -> builtins.list[DaemonSeen]:
        with self._lock:
            seen = [d for d in self._daemons.values() if d.seen_at >= since]
        return sorted(seen, key=lambda d: (d.name, d.host, d.id))

    def forget(self, daemon_id: str) -> None:
        with self._lock:
            self._daemons.pop(daemon_id, None)

    @contextmanager
    def lock_name(self, name: str) -> Iterator[NameHold]:
        with self._lock:
            if name in self._names:
                raise NameTaken(
                    f"a daemon named {name!r} is running on this store; give this one another name"
                )
            self._names.add(name)
        try:
            yield _Held(lambda: name in self._names)  # in one process, lost only by letting go
        finally:
            with self._lock:
                self._names.discard(name)

    # -- internals -------------------------------------------------------------------
    def _is_done(self, job_id: str) -> bool:
        job = self._jobs.get(job_id)
        return job is not None and job.status is Status.DONE

    def _put(self, job: Job) -> None:
        before = self._jobs.get(job.id)
        if before is not None and before.unique_slot is not None and before.unique_slot != job.unique_slot:
            self._slots.pop(before.unique_slot, None)
        if job.unique_slot is not None:
            self._slots[job.unique_slot] = job.id
        self._jobs[job.id] = job
        if job.status.terminal:
            self._open.pop(job.id, None)
        else:
            self._open[job.id] = None

    def _write(self, decision: Decision) -> None:
        self._put(decision.job)
        for effect in decision.durable:
            if isinstance(effect, EnqueueJob) and effect.job.id not in self._jobs:
                self._put(effect.job)


class _Rows:
    """The store's rows as `settle` reads and writes them (under the store's lock)."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    def queued_dependents(self, ids: Sequence[str]) -> list[Job]:
        wanted = set(ids)
        jobs = self._store._jobs
        return [
            job
            for i in self._store._open
            if (job := jobs[i]).status is Status.QUEUED and wanted.intersection(job.depends_on)
        ]

    def cancelled_for(self, ids: Sequence[str]) -> list[Job]:
        wanted = set(ids)
        return [
            j
            for j in self._store._jobs.values()
            if j.status is Status.CANCELLED and j.cancelled_for in wanted
        ]

    def statuses(self, ids: Sequence[str]) -> dict[str, Status]:
        jobs = self._store._jobs
        return {i: jobs[i].status for i in ids if i in jobs}

    def write(self, decisions: Sequence[Decision]) -> list[str]:
        written = []
        for decision in decisions:
            current = self._store._jobs.get(decision.job.id)
            if current is not None and current.version == decision.expected_version:
                self._store._write(decision)
                written.append(decision.job.id)
        return written


class _Held:
    def __init__(self, check: Callable[[], bool]) -> None:
        self._check = check

    def held(self) -> bool:
        return self._check()
