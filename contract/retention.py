"""Retention (R-F3): what prune deletes, in what order, and what it keeps."""

from __future__ import annotations

from datetime import timedelta

from qrun.core import Failed, Spawned, Status
from qrun.core.ports import JobFilter, JobStore

from .base import H, StoreFixtures, claim_one, finish, step
from .builders import at, new_job

KEEP = {
    Status.DONE: timedelta(hours=1),
    Status.FAILED: timedelta(days=1),
    Status.CANCELLED: timedelta(hours=1),
}


class StoreRetention(StoreFixtures):
    def test_prune_with_a_limit_of_zero_deletes_nothing(self, store: JobStore) -> None:
        store.submit([new_job()])
        done = step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        assert store.prune(at(10**6), {Status.FAILED: timedelta(0)}, limit=0) == 0
        assert store.get(done.id) == done

    def test_r_f3_prune_deletes_only_finished_jobs_past_their_retention(self, store: JobStore) -> None:
        done = new_job()
        store.submit([done])
        finish(store)
        open_job = new_job(available_at=at(10_000))
        store.submit([open_job])
        assert store.prune(at(1800), KEEP, limit=100) == 0  # half an hour: kept
        assert store.prune(at(3601 + 1), KEEP, limit=100) == 1
        assert store.get(done.id) is None
        assert store.get(open_job.id) == open_job

    def test_r_f3_retention_is_per_status(self, store: JobStore) -> None:
        ok_job, bad_job = new_job(), new_job(max_attempts=1)
        store.submit([ok_job, bad_job])
        finish(store)
        running = step(store, claim_one(store, now=at(1)).job, Spawned(H), at(1))
        step(store, running, Failed("boom"), at(1))
        assert store.prune(at(7200), KEEP, limit=100) == 1  # done is past an hour; failed keeps a day
        assert store.get(ok_job.id) is None and store.get(bad_job.id) is not None
        assert store.prune(at(7200), {}, limit=100) == 0  # no retention given: keep forever

    def test_r_f3_prune_is_bounded_and_oldest_first(self, store: JobStore) -> None:
        jobs = [new_job() for _ in range(5)]
        store.submit(jobs)
        for i in range(5):
            finish(store, now_s=1 + i)
        assert store.prune(at(10_000), KEEP, limit=2) == 2
        assert [j.id for j in store.list(JobFilter())] == [j.id for j in jobs[2:]]
        assert store.prune(at(10_000), KEEP, limit=1) == 1  # the smallest batch there is
        assert [j.id for j in store.list(JobFilter())] == [j.id for j in jobs[3:]]

    def test_r_f3_prune_keeps_a_job_others_depend_on(self, store: JobStore) -> None:
        parent = new_job()
        child = new_job(depends_on=(parent.id,), available_at=at(100_000))
        store.submit([parent, child])
        finish(store)
        assert store.prune(at(10_000), KEEP, limit=100) == 0
        assert store.get(parent.id) is not None
