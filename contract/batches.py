"""Batches (R-E1), held for every store: one atomic submit, a summary from the store
(counts per status, durations), listing by batch, and clearing a finished batch."""

from __future__ import annotations

import pytest

from qrun.core import Cancel, ClaimRequest, Durations, Failed, Finished, Handle, Job, Spawned, Status
from qrun.core.ports import BatchNotFinished, DuplicateJob, JobFilter, JobStore

from .base import POLICY, StoreFixtures, lease, step
from .builders import T0, at, built, new_job

H = Handle("subprocess", "88:1")


def run(store: JobStore, job: Job, start_s: float, end_s: float, ok: bool = True) -> Job:
    """Take `job` (it must be the next one handed out) from start to end at those times."""
    got = store.claim(
        ClaimRequest("w1", limit=1, now=at(start_s), lease_until=lease(at(start_s)), policy=POLICY)
    )
    assert [d.job.id for d in got] == [job.id]
    spawned = step(store, got[0].job, Spawned(H), at(start_s))
    return step(store, spawned, Finished() if ok else Failed("boom"), at(end_s))


class StoreBatches(StoreFixtures):
    def test_r_e1_a_batch_is_submitted_whole_or_not_at_all(self, store: JobStore) -> None:
        existing = new_job()
        store.submit([existing])
        batch = [new_job(batch="b1"), new_job(batch="b1"), new_job(id=existing.id, batch="b1")]
        with pytest.raises(DuplicateJob):
            store.submit(batch)
        assert store.batch("b1").total == 0
        assert store.list(JobFilter(batch="b1")) == []

    def test_r_e1_the_summary_counts_each_status_and_knows_when_the_batch_is_complete(
        self, store: JobStore
    ) -> None:
        jobs = [new_job(batch="b1", priority=9 - i, max_attempts=1) for i in range(4)]
        store.submit([*jobs, new_job(batch="other")])
        run(store, jobs[0], 1, 3)
        run(store, jobs[1], 4, 5, ok=False)
        store.claim(ClaimRequest("w1", limit=1, now=at(6), lease_until=lease(at(6)), policy=POLICY))
        summary = store.batch("b1")
        assert dict(summary.counts) == {Status.DONE: 1, Status.FAILED: 1, Status.RUNNING: 1, Status.QUEUED: 1}
        assert (summary.total, summary.finished, summary.complete) == (4, 2, False)

    def test_r_e1_durations_are_min_median_max_and_total_of_the_finished_runs(self, store: JobStore) -> None:
        jobs = [new_job(batch="b1", priority=9 - i, max_attempts=1) for i in range(3)]
        store.submit(jobs)
        run(store, jobs[0], 10, 12)  # 2 s
        run(store, jobs[1], 20, 30, ok=False)  # 10 s: failures count, they ran
        run(store, jobs[2], 40, 43)  # 3 s
        summary = store.batch("b1")
        assert summary.complete and not summary.succeeded
        assert summary.durations == Durations(3, 2.0, 3.0, 10.0, 15.0)

    def test_r_e1_an_unknown_batch_is_empty_and_never_complete(self, store: JobStore) -> None:
        summary = store.batch("nope")
        assert (summary.total, summary.complete, summary.durations) == (0, False, None)

    def test_r_e1_jobs_are_listed_by_batch(self, store: JobStore) -> None:
        mine = [new_job(batch="b1") for _ in range(3)]
        store.submit([*mine, new_job(batch="b2"), new_job()])
        assert [j.id for j in store.list(JobFilter(batch="b1"))] == sorted(j.id for j in mine)

    def test_r_e1_clearing_an_unfinished_batch_is_refused_and_deletes_nothing(self, store: JobStore) -> None:
        jobs = [new_job(batch="b1", priority=1), new_job(batch="b1")]
        store.submit(jobs)
        run(store, jobs[0], 1, 2)
        with pytest.raises(BatchNotFinished, match=jobs[1].id):
            store.clear_batch("b1")
        assert store.batch("b1").total == 2

    def test_r_e1_a_finished_batch_is_cleared_and_nothing_else_is(self, store: JobStore) -> None:
        jobs = [new_job(batch="b1", priority=1), new_job(batch="b1", depends_on=())]
        other = new_job(batch="b2")
        store.submit([*jobs, other])
        run(store, jobs[0], 1, 2)
        run(store, jobs[1], 3, 4)
        assert store.clear_batch("b1") == 2
        assert store.batch("b1").total == 0 and store.get(jobs[0].id) is None
        assert store.get(other.id) == other
        assert store.clear_batch("b1") == 0

    def test_r_e1_a_batch_a_job_outside_it_depends_on_is_not_cleared(self, store: JobStore) -> None:
        inside = new_job(batch="b1", priority=1)
        outside = new_job(depends_on=(inside.id,))
        store.submit([inside, outside])
        run(store, inside, 1, 2)
        with pytest.raises(BatchNotFinished, match=outside.id):
            store.clear_batch("b1")
        assert store.get(inside.id) is not None

    def test_r_e2_a_failed_run_is_retried_by_the_queue_within_the_batch(self, store: JobStore) -> None:
        """R-E2: the runner reports a failure; the queue requeues it while attempts remain,
        and the summary shows it queued again, not lost."""
        job = new_job(batch="b1", max_attempts=2)
        store.submit([job])
        again = run(store, job, 1, 2, ok=False)
        assert again.status is Status.QUEUED and again.attempts == 1
        assert dict(store.batch("b1").counts) == {Status.QUEUED: 1}
        done = run(store, job, 3600, 3601)
        assert done.status is Status.DONE and done.attempts == 2
        assert store.batch("b1").succeeded
        assert done.started_at is not None and done.started_at > T0

    def test_a_batch_whose_jobs_depend_on_each_other_is_cleared_by_a_name_built_at_run_time(
        self, store: JobStore
    ) -> None:
        first = new_job(batch="b1", max_attempts=1)
        second = new_job(batch="b1", depends_on=(first.id,), max_attempts=1)
        store.submit([first, second])
        step(store, first, Cancel(), at(1))  # and its dependent with it
        assert store.clear_batch(built("b", "1")) == 2
