"""The reference the contract's state machine holds every store to, the memory store too.

It states what a job store does as plainly as it can be said: its state is the jobs, the
paused queues, the pool sizes and the topic events, and everything else (which job holds
a unique key or a pool slot, which keys are busy, what is open) is found by looking at
every job, every time. No index, no cache, no cleverness: slow, and obviously right. The
rules themselves come from the core (`decide`, `pick`, `resolve`), which the unit tests
pin on their own, so a store and this model can only agree by both following them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from returns.result import Success

from qrun.core import ClaimRequest, Decision, EnqueueJob, Heartbeat, Job, LeaseExpired, Status, decide
from qrun.core.batch import BatchSummary, clear_refusal, summarize
from qrun.core.claim import decide_picks, pick
from qrun.core.dependents import at_submit, ended, pending, revived, still_blocked
from qrun.core.pools import Pool, check_size, holders, states
from qrun.core.ports import (
    Applied,
    ApplyResult,
    BatchNotFinished,
    Conflict,
    DuplicateEvent,
    JobFilter,
    UniqueConflict,
    unique_conflict_message,
)
from qrun.core.retention import expired
from qrun.core.submission import check, resolve
from qrun.core.topics import EventStatus, Settle, TopicEvent, reserve, settle


class Model:
    def __init__(self) -> None:
        self.jobs: dict[str, Job] = {}
        self.paused_queues: set[str] = set()
        self.sizes: dict[str, int] = {}
        self.topic_events: dict[str, TopicEvent] = {}

    # -- what is found by looking ------------------------------------------------------
    def holder(self, slot: str) -> str | None:
        """The job holding unique key `slot`, if any."""
        return next((j.id for j in self.jobs.values() if j.unique_slot == slot), None)

    def open_jobs(self) -> list[Job]:
        return [j for j in self.jobs.values() if not j.status.terminal]

    def done(self, job_id: str) -> bool:
        job = self.jobs.get(job_id)
        return job is not None and job.status is Status.DONE

    # -- jobs ------------------------------------------------------------------------------
    def submit(self, jobs: Sequence[Job]) -> list[str]:
        fresh, ids = resolve(jobs, self.holder)
        check(fresh, lambda wanted: {i for i in wanted if i in self.jobs})
        for job in at_submit(fresh, lambda i: self.jobs[i].status if i in self.jobs else None):
            self.jobs[job.id] = job
        return ids

    def claim(self, request: ClaimRequest) -> list[Decision]:
        worker, limit, now, lease_until = request.worker, request.limit, request.now, request.lease_until
        policy, queues, pools, kinds = request.policy, request.queues, request.pools, request.kinds
        live = self.open_jobs()
        busy = Counter(j.concurrency_key for j in live if j.status is Status.RUNNING and j.concurrency_key)
        chosen = pick(
            live,
            now=now,
            limit=limit,
            running_per_key={k: n for k, n in busy.items() if k is not None},
            is_done=self.done,
            queues=frozenset(queues) if queues is not None else None,
            paused=frozenset(self.paused_queues),
            pools=states(self.sizes, holders(live)),
            served_pools=frozenset(pools) if pools is not None else None,
            kinds=frozenset(kinds) if kinds is not None else None,
        )
        out = decide_picks(chosen, worker, lease_until, now, policy)
        for decision in out.writes:
            self.put(decision)
        self.carry_down(out.writes, {})
        return out

    def apply(self, decision: Decision) -> ApplyResult:
        return self.apply_many([decision])[0]

    def apply_many(self, decisions: Sequence[Decision]) -> list[ApplyResult]:
        """One after another, as if alone; a unique key taken from its holder undoes all."""
        before = dict(self.jobs)
        out: list[ApplyResult] = []
        for decision in decisions:
            current = self.jobs.get(decision.job.id)
            if current is None or current.version != decision.expected_version:
                out.append(Conflict(current))
                continue
            slot = decision.job.unique_slot
            held_by = self.holder(slot) if slot is not None else None
            if held_by is not None and held_by != decision.job.id:
                self.jobs = before
                raise UniqueConflict(unique_conflict_message(decision.job, held_by))
            self.put(decision)
            out.append(Applied(decision.job))
        self.carry_down([d for d, r in zip(decisions, out, strict=True) if isinstance(r, Applied)], {})
        return out

    def apply_then_claim(
        self, decisions: Sequence[Decision], request: ClaimRequest
    ) -> tuple[list[ApplyResult], list[Decision]]:
        results = self.apply_many(decisions)
        return results, self.claim(request)

    def put(self, decision: Decision) -> None:
        self.jobs[decision.job.id] = decision.job
        for effect in decision.durable:
            if isinstance(effect, EnqueueJob) and effect.job.id not in self.jobs:
                self.jobs[effect.job.id] = effect.job

    def carry_down(self, written: Sequence[Decision], times: dict[str, int]) -> None:
        """The ends and revivals `written` announce, one round of dependents at a time
        (`core.dependents`), each job decided at most twice (a batch may submit a cycle)."""
        ends, revives = pending(written)
        if not ends and not revives:
            return
        waiting = [
            j for j in self.jobs.values() if j.status is Status.QUEUED and set(j.depends_on) & set(ends)
        ]
        decisions = ended(sorted(waiting, key=lambda j: j.id), ends)
        taken = {d.job.id for d in decisions}
        cancelled = [
            j
            for j in sorted(self.jobs.values(), key=lambda j: j.id)
            if j.status is Status.CANCELLED and j.cancelled_for in revives and j.id not in taken
        ]
        status = {i: j.status for i, j in self.jobs.items()}.get
        again = [d.job for d in written if d.job.id in revives and d.job.id not in taken]
        decisions += revived(cancelled, revives, status)
        decisions += still_blocked(again, revives, status)
        decisions = [d for d in decisions if times.get(d.job.id, 0) < 2]
        for d in decisions:
            times[d.job.id] = times.get(d.job.id, 0) + 1
            self.put(d)
        self.carry_down(decisions, times)

    def heartbeat(
        self,
        worker: str,
        job_ids: Sequence[str],
        *,
        lease_until: datetime,
        now: datetime,
        ran_s: float = 0.0,
    ) -> frozenset[str]:
        kept = set()
        for job_id in job_ids:
            job = self.jobs.get(job_id)
            result = decide(job, Heartbeat(worker, lease_until, ran_s), now) if job else None
            if isinstance(result, Success):
                self.put(result.unwrap())
                kept.add(job_id)
        return frozenset(kept)

    def sweep_stale_leases(self, now: datetime) -> int:
        cleared = 0
        for job in list(self.jobs.values()):
            if job.status is Status.RUNNING and job.lease is not None and job.lease.until <= now:
                self.put(decide(job, LeaseExpired(), now).unwrap())
                cleared += 1
        return cleared

    def prune(self, now: datetime, keep: Mapping[Status, timedelta], *, limit: int) -> int:
        needed = {d for j in self.jobs.values() for d in j.depends_on}
        old = [j for j in self.jobs.values() if j.id not in needed and expired(j, keep, now)]
        gone = sorted(old, key=lambda j: (j.finished_at, j.id))[: max(limit, 0)]
        for job in gone:
            del self.jobs[job.id]
        return len(gone)

    # -- queues, pools, batches --------------------------------------------------------
    def pause(self, queue: str) -> None:
        self.paused_queues.add(queue)

    def resume(self, queue: str) -> None:
        self.paused_queues.discard(queue)

    def paused(self) -> frozenset[str]:
        return frozenset(self.paused_queues)

    def set_pool(self, name: str, size: int) -> None:
        check_size(name, size)
        self.sizes[name] = size

    def pools(self) -> Mapping[str, Pool]:
        held = holders(self.open_jobs())
        return {n: Pool(n, self.sizes[n], held.get(n, {})) for n in sorted(self.sizes)}

    def batch(self, batch: str) -> BatchSummary:
        return summarize(
            batch, [(j.status, j.started_at, j.finished_at) for j in self.jobs.values() if j.batch == batch]
        )

    def clear_batch(self, batch: str) -> int:
        members = [j for j in self.jobs.values() if j.batch == batch]
        ids = {j.id for j in members}
        needed_by = {d: j.id for j in self.jobs.values() if j.id not in ids for d in j.depends_on if d in ids}
        why = clear_refusal(batch, [j.id for j in members if not j.status.terminal], needed_by)
        if why:
            raise BatchNotFinished(why)
        for job in members:
            del self.jobs[job.id]
        return len(members)

    # -- topics ----------------------------------------------------------------------------
    def publish(self, events: Sequence[TopicEvent]) -> None:
        ids = [e.id for e in events]
        if len(set(ids)) != len(ids) or any(i in self.topic_events for i in ids):
            raise DuplicateEvent(f"event ids taken: {ids}")
        for event in events:
            self.topic_events[event.id] = event

    def reserve(
        self, topic: str, consumer: str, *, limit: int, now: datetime, until: datetime
    ) -> list[TopicEvent]:
        if until <= now:
            return []
        ready = sorted(
            (e for e in self.topic_events.values() if e.topic == topic and e.available(now)),
            key=lambda e: (e.published_at, e.id),
        )
        taken = [reserve(e, consumer, now, until) for e in ready[: max(limit, 0)]]
        for event in taken:
            self.topic_events[event.id] = event
        return taken

    def settle(
        self, ids: Sequence[str], consumer: str, how: Settle, *, now: datetime, note: str | None = None
    ) -> list[str]:
        done = []
        for event_id in dict.fromkeys(ids):
            event = self.topic_events.get(event_id)
            if event is not None and event.status is EventStatus.RESERVED and event.reserved_by == consumer:
                self.topic_events[event_id] = settle(event, consumer, how, now, note)
                done.append(event_id)
        return done

    def events(self, topic: str, status: EventStatus | None = None, *, limit: int = 1000) -> list[TopicEvent]:
        found = [e for e in self.topic_events.values() if e.topic == topic and status in (None, e.status)]
        return sorted(found, key=lambda e: (e.published_at, e.id))[:limit]

    def available(self, topic: str, now: datetime) -> int:
        return sum(1 for e in self.topic_events.values() if e.topic == topic and e.available(now))

    # -- reads -----------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def list(self, where: JobFilter = JobFilter()) -> list[Job]:
        def fits(j: Job) -> bool:
            return (
                where.status in (None, j.status)
                and where.queue in (None, j.queue)
                and where.kind in (None, j.kind)
                and where.batch in (None, j.batch)
            )

        return where.page(filter(fits, self.jobs.values()), self.jobs.get)

    def counts(self) -> Mapping[tuple[str, Status], int]:
        return dict(Counter((j.queue, j.status) for j in self.jobs.values()))

    def finished_counts(self, since: datetime) -> Mapping[tuple[str, Status], int]:
        ended = [
            j
            for j in self.jobs.values()
            if j.status in (Status.DONE, Status.FAILED, Status.CANCELLED)
            and j.finished_at is not None
            and j.finished_at >= since
        ]
        return dict(Counter((j.queue, j.status) for j in ended))
