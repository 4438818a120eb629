"""A store written outside qrun, held to the shipped contract by subclassing one class.

This file is self-contained on purpose: tests/integration/test_wheel_contract.py copies
it next to a wheel-installed qrun and runs it there, as a third party would.
"""

import contextlib
import threading
from collections import Counter

import pytest
from returns.result import Success

from qrun.adapters.dependents import attached
from qrun.adapters.dependents import settle as carry_down
from qrun.contract import JobStoreContract
from qrun.core import EnqueueJob, Heartbeat, LeaseExpired, Status, decide
from qrun.core.batch import clear_refusal, summarize
from qrun.core.claim import decide_picks, pick
from qrun.core.daemons import FORGOTTEN_AFTER
from qrun.core.dependents import at_submit
from qrun.core.invariants import needs_care
from qrun.core.pools import Pool, check_size, holders, states
from qrun.core.ports import (
    Applied,
    BatchNotFinished,
    Conflict,
    DuplicateEvent,
    DuplicateJob,
    JobFilter,
    NameTaken,
    UniqueConflict,
    UnknownDependency,
    unique_conflict_message,
)
from qrun.core.retention import expired
from qrun.core.submission import resolve
from qrun.core.topics import EventStatus, reserve, settle
from qrun.core.workflow import run_order


class TinyStore:
    """A list of jobs and one lock: the least a JobStore can be."""

    def __init__(self):
        self.lock = threading.Lock()
        self.jobs = {}
        self.paused_queues = set()
        self.pool_sizes = {}
        self.topic_events = {}
        self.runs = {}
        self.errors = {}
        self.names = set()

    def submit(self, jobs):
        with self.lock:
            fresh, ids = resolve(jobs, self._holder)
            new = [j.id for j in fresh]
            dups = [i for i, n in Counter(new).items() if n > 1 or i in self.jobs]
            if dups:
                raise DuplicateJob(f"job ids exist already: {dups}")
            for j in fresh:
                if any(d not in self.jobs and d not in new for d in j.depends_on):
                    raise UnknownDependency(f"{j.id} depends on unknown jobs: {j.depends_on}")
            # A job after one that already ended failed or cancelled is born cancelled.
            self.jobs.update((j.id, j) for j in at_submit(fresh, self._status))
            return ids

    def _status(self, job_id):
        return self.jobs[job_id].status if job_id in self.jobs else None

    def _holder(self, slot):
        return next((j.id for j in self.jobs.values() if j.unique_slot == slot), None)

    def claim(self, request):  # a ClaimRequest: who, how many, when, and of what
        with self.lock:
            running = Counter(
                j.concurrency_key
                for j in self.jobs.values()
                if j.status is Status.RUNNING and j.concurrency_key
            )
            done = {i for i, j in self.jobs.items() if j.status is Status.DONE}
            r = request
            chosen = pick(
                self.jobs.values(),
                now=r.now,
                limit=r.limit,
                running_per_key=running,
                is_done=done.__contains__,
                queues=frozenset(r.queues) if r.queues is not None else None,
                paused=frozenset(self.paused_queues),
                pools=states(self.pool_sizes, holders(self.jobs.values())),
                served_pools=frozenset(r.pools) if r.pools is not None else None,
                kinds=frozenset(r.kinds) if r.kinds is not None else None,
            )
            # Claims the coherent picks, heals the impossible ones (R-C1): what to write.
            out = decide_picks(chosen, r.worker, r.lease_until, r.now, r.policy)
            for decision in out.writes:
                self._write(decision)
            carry_down(out.writes, Rows(self))  # a heal may end a job its dependents wait for
            return out

    def apply(self, decision):
        return self.apply_many([decision])[0]

    def apply_many(self, decisions):
        with self.lock:
            before, out = dict(self.jobs), []
            for decision in decisions:
                current = self.jobs.get(decision.job.id)
                if current is None or current.version != decision.expected_version:
                    out.append(Conflict(current))
                    continue
                slot = decision.job.unique_slot
                holder = self._holder(slot) if slot else None
                if holder not in (None, decision.job.id):
                    self.jobs = before  # all or nothing
                    raise UniqueConflict(unique_conflict_message(decision.job, holder))
                self._write(decision)
                out.append(Applied(decision.job))
            # The end (or retry) of a job carried down to the jobs that depend on it.
            won = [d for d, r in zip(decisions, out, strict=True) if isinstance(r, Applied)]
            return attached(decisions, out, carry_down(won, Rows(self)))  # what it did to dependents

    @contextlib.contextmanager
    def lock_name(self, name):
        with self.lock:
            if name in self.names:
                raise NameTaken(f"{name} is taken")
            self.names.add(name)
        try:
            yield Held(lambda: name in self.names)  # NameHold: one process never loses it
        finally:
            self.names.discard(name)

    def apply_then_claim(self, decisions, request):
        # Optional (ApplyThenClaim): the two calls, one after the other, are enough.
        return self.apply_many(decisions), self.claim(request)

    def heartbeat(self, worker, job_ids, *, lease_until, now, ran_s=0.0):
        with self.lock:
            kept = set()
            for i in job_ids:
                if i in self.jobs:
                    result = decide(self.jobs[i], Heartbeat(worker, lease_until, ran_s), now)
                    if isinstance(result, Success):
                        self._write(result.unwrap())
                        kept.add(i)
            return frozenset(kept)

    def sweep_stale_leases(self, now):
        with self.lock:
            n = 0
            for job in list(self.jobs.values()):
                if job.status is Status.RUNNING and job.lease and job.lease.until <= now:
                    self._write(decide(job, LeaseExpired(), now).unwrap())
                    n += 1
            return n

    def prune(self, now, keep, *, limit):
        with self.lock:
            needed = {d for j in self.jobs.values() for d in j.depends_on}
            old = [j for j in self.jobs.values() if j.id not in needed and expired(j, keep, now)]
            old = sorted(old, key=lambda j: (j.finished_at, j.id))[: max(limit, 0)]
            for job in old:
                del self.jobs[job.id]
            return len(old)

    def pause(self, queue):
        with self.lock:
            self.paused_queues.add(queue)

    def resume(self, queue):
        with self.lock:
            self.paused_queues.discard(queue)

    def paused(self):
        with self.lock:
            return frozenset(self.paused_queues)

    def set_pool(self, name, size):
        check_size(name, size)
        with self.lock:
            self.pool_sizes[name] = size

    def pools(self):
        with self.lock:
            held = holders(self.jobs.values())
            return {n: Pool(n, size, held.get(n, {})) for n, size in self.pool_sizes.items()}

    def batch(self, batch):
        with self.lock:
            return summarize(
                batch,
                [(j.status, j.started_at, j.finished_at) for j in self.jobs.values() if j.batch == batch],
            )

    def clear_batch(self, batch):
        with self.lock:
            mine = [j for j in self.jobs.values() if j.batch == batch]
            ids = {j.id for j in mine}
            needed = {
                d: j.id for j in self.jobs.values() if j.batch != batch for d in j.depends_on if d in ids
            }
            why = clear_refusal(batch, [j.id for j in mine if not j.status.terminal], needed)
            if why:
                raise BatchNotFinished(why)
            for i in ids:
                del self.jobs[i]
            return len(ids)

    def publish(self, events):
        with self.lock:
            ids = [e.id for e in events]
            if len(set(ids)) < len(ids) or any(i in self.topic_events for i in ids):
                raise DuplicateEvent(f"event ids exist already: {ids}")
            self.topic_events.update((e.id, e) for e in events)

    def reserve(self, topic, consumer, *, limit, now, until):
        if until <= now:
            return []
        with self.lock:
            ready = sorted(
                (e for e in self.topic_events.values() if e.topic == topic and e.available(now)),
                key=lambda e: (e.published_at, e.id),
            )[: max(limit, 0)]
            taken = [reserve(e, consumer, now, until) for e in ready]
            self.topic_events.update((e.id, e) for e in taken)
            return taken

    def settle(self, ids, consumer, how, *, now, note=None):
        with self.lock:
            done = []
            for i in dict.fromkeys(ids):
                e = self.topic_events.get(i)
                if e and e.status is EventStatus.RESERVED and e.reserved_by == consumer:
                    self.topic_events[i] = settle(e, consumer, how, now, note)
                    done.append(i)
            return done

    def events(self, topic, status=None, *, limit=1000):
        with self.lock:
            found = [e for e in self.topic_events.values() if e.topic == topic and status in (None, e.status)]
            return sorted(found, key=lambda e: (e.published_at, e.id))[:limit]

    def available(self, topic, now):
        with self.lock:
            return sum(1 for e in self.topic_events.values() if e.topic == topic and e.available(now))

    def record_run(self, session_id, run):
        with self.lock:
            self.runs.setdefault(session_id, {})[(run.iteration, run.handler)] = run

    def handler_runs(self, session_id):
        with self.lock:
            return sorted(self.runs.get(session_id, {}).values(), key=run_order)

    def set_workflow_error(self, workflow, error, now):
        with self.lock:
            if error is None:
                self.errors.pop(workflow, None)
            else:
                self.errors[workflow] = (error, now)

    def workflow_errors(self):
        with self.lock:
            return dict(sorted(self.errors.items()))

    def get(self, job_id):
        with self.lock:
            return self.jobs.get(job_id)

    def list(self, where=JobFilter()):
        with self.lock:
            found = [
                j
                for j in self.jobs.values()
                if (where.status is None or j.status is where.status)
                and (where.queue is None or j.queue == where.queue)
                and (where.kind is None or j.kind == where.kind)
                and (where.batch is None or j.batch == where.batch)
            ]
            return where.page(found, self.jobs.get)  # sorted and paged as JobFilter says

    def suspects(self, now, limit, after=None):  # Examinable: qrun doctor without a full read
        with self.lock:
            status = lambda i: self.jobs[i].status if i in self.jobs else None  # noqa: E731
            found = [j for i, j in sorted(self.jobs.items()) if (after is None or i > after)]
            return [j for j in found if needs_care(j, now, status)][:limit]

    def counts(self):
        with self.lock:
            return Counter((j.queue, j.status) for j in self.jobs.values())

    def finished_counts(self, since):
        ended = {Status.DONE, Status.FAILED, Status.CANCELLED}
        with self.lock:
            return Counter(
                (j.queue, j.status)
                for j in self.jobs.values()
                if j.status in ended and j.finished_at is not None and j.finished_at >= since
            )

    def close(self):
        pass

    def report(self, daemon):
        with self.lock:
            self.daemon_reports = {
                i: d
                for i, d in getattr(self, "daemon_reports", {}).items()
                if d.seen_at >= daemon.seen_at - FORGOTTEN_AFTER
            }
            self.daemon_reports[daemon.id] = daemon

    def daemons(self, since):
        with self.lock:
            seen = [d for d in getattr(self, "daemon_reports", {}).values() if d.seen_at >= since]
        return sorted(seen, key=lambda d: (d.name, d.host, d.id))

    def forget(self, daemon_id):
        with self.lock:
            getattr(self, "daemon_reports", {}).pop(daemon_id, None)

    def _write(self, decision):
        self.jobs[decision.job.id] = decision.job
        for effect in decision.durable:
            if isinstance(effect, EnqueueJob):
                self.jobs.setdefault(effect.job.id, effect.job)


class TestTinyStore(JobStoreContract):
    state_machine_examples = 30

    @pytest.fixture
    def make_store(self):
        return TinyStore


class Rows:
    """The store's jobs as `qrun.adapters.dependents.settle` reads and writes them."""

    def __init__(self, store):
        self.store = store

    def queued_dependents(self, ids):
        found = self.store.jobs.values()
        return [j for j in found if j.status is Status.QUEUED and set(ids) & set(j.depends_on)]

    def cancelled_for(self, ids):
        found = self.store.jobs.values()
        return [j for j in found if j.status is Status.CANCELLED and j.cancelled_for in ids]

    def statuses(self, ids):
        return {i: self.store.jobs[i].status for i in ids if i in self.store.jobs}

    def write(self, decisions):
        fresh = [d for d in decisions if self.store.jobs[d.job.id].version == d.expected_version]
        for decision in fresh:
            self.store._write(decision)
        return [d.job.id for d in fresh]


class Held:
    def __init__(self, check):
        self.held = check
