"""A store written outside qrun, held to the shipped contract by subclassing one class.

This file is self-contained on purpose: tests/integration/test_wheel_contract.py copies
it next to a wheel-installed qrun and runs it there, as a third party would.
"""

import threading
from collections import Counter

import pytest
from qrun.contract import JobStoreContract
from qrun.core import Adopt, Claim, EnqueueJob, Heartbeat, LeaseExpired, Status, decide
from qrun.core.claim import pick, run_id_for
from qrun.core.ports import Applied, Conflict, DuplicateJob, JobFilter, UnknownDependency
from returns.result import Success


class TinyStore:
    """A list of jobs and one lock: the least a JobStore can be."""

    def __init__(self):
        self.lock = threading.Lock()
        self.jobs = {}

    def submit(self, jobs):
        with self.lock:
            ids = [j.id for j in jobs]
            dups = [i for i, n in Counter(ids).items() if n > 1 or i in self.jobs]
            if dups:
                raise DuplicateJob(f"job ids exist already: {dups}")
            for j in jobs:
                if any(d not in self.jobs and d not in ids for d in j.depends_on):
                    raise UnknownDependency(f"{j.id} depends on unknown jobs: {j.depends_on}")
            self.jobs.update((j.id, j) for j in jobs)
            return ids

    def claim(self, worker, *, limit, now, lease_until, policy, queues=None):
        with self.lock:
            running = Counter(
                j.concurrency_key
                for j in self.jobs.values()
                if j.status is Status.RUNNING and j.concurrency_key
            )
            done = {i for i, j in self.jobs.items() if j.status is Status.DONE}
            out = []
            for job in pick(
                self.jobs.values(),
                now=now,
                limit=limit,
                running_per_key=running,
                is_done=done.__contains__,
                queues=frozenset(queues) if queues is not None else None,
            ):
                event = (
                    Adopt(worker, lease_until)
                    if job.adoptable
                    else Claim(worker, run_id_for(job), lease_until)
                )
                result = decide(job, event, now, policy)
                if isinstance(result, Success):
                    self._write(result.unwrap())
                    out.append(result.unwrap())
            return out

    def apply(self, decision):
        with self.lock:
            current = self.jobs.get(decision.job.id)
            if current is None or current.version != decision.expected_version:
                return Conflict(current)
            self._write(decision)
            return Applied(decision.job)

    def heartbeat(self, worker, job_ids, *, lease_until, now):
        with self.lock:
            kept = set()
            for i in job_ids:
                if i in self.jobs:
                    result = decide(self.jobs[i], Heartbeat(worker, lease_until), now)
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

    def get(self, job_id):
        with self.lock:
            return self.jobs.get(job_id)

    def list(self, where=JobFilter()):
        with self.lock:
            found = [
                j
                for i, j in sorted(self.jobs.items())
                if (where.status is None or j.status is where.status)
                and (where.queue is None or j.queue == where.queue)
                and (where.kind is None or j.kind == where.kind)
                and (where.after is None or i > where.after)
            ]
            return found[: where.limit]

    def counts(self):
        with self.lock:
            return Counter((j.queue, j.status) for j in self.jobs.values())

    def close(self):
        pass

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
