"""What users expect of any serious queue, held for every store: unique submission
(R-F1), cancellation (R-F1), retention and queue pause (R-F3)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from qrun.core import (
    Cancel,
    ClaimRequest,
    Failed,
    Finished,
    Handle,
    Retry,
    Spawned,
    Status,
    Unique,
)
from qrun.core.ports import DuplicateJob, JobFilter, JobStore, UniqueConflict

from .base import POLICY, StoreFixtures, claim_one, lease, step
from .builders import T0, at, new_job, ok

H = Handle("subprocess", "4242:99")
KEEP = {
    Status.DONE: timedelta(hours=1),
    Status.FAILED: timedelta(days=1),
    Status.CANCELLED: timedelta(hours=1),
}


def finish(store: JobStore, now_s: float = 1, **claim: object) -> str:
    """Claim, spawn and finish the next job at `at(now_s)`; returns its id."""
    job = claim_one(store, now=at(now_s), **claim).job  # type: ignore[arg-type]
    job = step(store, job, Spawned(H), at(now_s))
    step(store, job, Finished("worker"), at(now_s))
    return job.id


class StoreFeatures(StoreFixtures):
    # -- unique submission (R-F1) ----------------------------------------------------
    def test_r_f1_a_held_unique_key_returns_the_holder_instead_of_a_new_job(self, store: JobStore) -> None:
        first = new_job(unique=Unique("report-42"))
        second = new_job(unique=Unique("report-42"))
        assert store.submit([first]) == [first.id]
        assert store.submit([second]) == [first.id]
        assert store.get(second.id) is None
        assert [j.id for j in store.list(JobFilter())] == [first.id]

    def test_r_f1_resubmitting_the_same_job_is_idempotent(self, store: JobStore) -> None:
        job = new_job(unique=Unique("once"))
        assert store.submit([job]) == [job.id]
        assert store.submit([job]) == [job.id]
        assert store.get(job.id) == job

    def test_r_f1_the_key_holds_while_running(self, store: JobStore) -> None:
        job = new_job(unique=Unique("k"))
        store.submit([job])
        claim_one(store)
        assert store.submit([new_job(unique=Unique("k"))]) == [job.id]

    def test_r_f1_the_key_is_free_once_the_job_ends_outside_its_finished_states(
        self, store: JobStore
    ) -> None:
        job = new_job(unique=Unique("k"))
        store.submit([job])
        finish(store)
        again = new_job(unique=Unique("k"))
        assert store.submit([again]) == [again.id]

    def test_r_f1_finished_states_keep_holding_the_key(self, store: JobStore) -> None:
        job = new_job(unique=Unique("k", {Status.DONE}))
        store.submit([job])
        finish(store)
        assert store.submit([new_job(unique=Unique("k"))]) == [job.id]

    def test_r_f1_a_batch_resolves_keys_within_itself_and_remaps_dependencies(self, store: JobStore) -> None:
        held = new_job(unique=Unique("a"))
        store.submit([held])
        dup_of_stored = new_job(unique=Unique("a"))
        fresh = new_job(unique=Unique("b"))
        dup_in_batch = new_job(unique=Unique("b"))
        child = new_job(depends_on=(dup_of_stored.id, dup_in_batch.id))
        got = store.submit([dup_of_stored, fresh, dup_in_batch, child])
        assert got == [held.id, fresh.id, fresh.id, child.id]
        stored = store.get(child.id)
        assert stored is not None and stored.depends_on == (held.id, fresh.id)
        assert store.get(dup_of_stored.id) is None and store.get(dup_in_batch.id) is None

    def test_r_f1_a_new_id_that_exists_is_still_a_duplicate(self, store: JobStore) -> None:
        job = new_job()
        store.submit([job])
        clash = new_job(id=job.id, unique=Unique("fresh-key"))
        with pytest.raises(DuplicateJob, match=job.id):
            store.submit([clash])
        assert store.get(job.id) == job

    def test_r_f1_a_retry_into_a_key_taken_meanwhile_is_refused_and_changes_nothing(
        self, store: JobStore
    ) -> None:
        job = new_job(unique=Unique("k"), max_attempts=1)
        store.submit([job])
        running = step(store, claim_one(store).job, Spawned(H))
        failed = step(store, running, Failed("boom"), at(1))
        assert failed.status is Status.FAILED
        taker = new_job(unique=Unique("k"))
        assert store.submit([taker]) == [taker.id]
        with pytest.raises(UniqueConflict, match=taker.id):
            store.apply(ok(failed, Retry(), at(2), POLICY))
        assert store.get(job.id) == failed

    # -- cancellation (R-F1) ---------------------------------------------------------
    def test_r_f1_a_cancelled_queued_job_never_starts(self, store: JobStore) -> None:
        job = new_job()
        store.submit([job])
        cancelled = step(store, job, Cancel())
        assert cancelled.status is Status.CANCELLED
        assert (
            store.claim(ClaimRequest("w1", limit=5, now=at(60), lease_until=lease(at(60)), policy=POLICY))
            == []
        )

    def test_r_f1_a_cancelled_running_job_ends_cancelled_and_frees_its_key(self, store: JobStore) -> None:
        """The runner is asked to stop it (a Kill effect); its exit ends it `cancelled`,
        lease released, and its concurrency key's place is free for the next job."""
        first, second = new_job(concurrency_key="gpu"), new_job(concurrency_key="gpu")
        store.submit([first, second])
        running = step(store, claim_one(store).job, Spawned(H))
        asked = store.apply(ok(running, Cancel(), at(1), POLICY))
        assert asked.job.cancel_requested  # type: ignore[union-attr]
        ended = step(store, asked.job, Failed("killed"), at(2))  # type: ignore[union-attr]
        assert ended.status is Status.CANCELLED and ended.lease is None
        assert claim_one(store, now=at(3)).job.id == second.id

    # -- retention (R-F3) ------------------------------------------------------------
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

    # -- queue pause (R-F3) ----------------------------------------------------------
    def test_r_f3_a_paused_queue_keeps_its_jobs_and_hands_none_out(self, store: JobStore) -> None:
        mail, other = new_job(queue="mail"), new_job(queue="other")
        store.submit([mail, other])
        store.pause("mail")
        assert store.paused() == frozenset({"mail"})
        got = store.claim(ClaimRequest("w1", limit=5, now=T0, lease_until=lease(), policy=POLICY))
        assert [d.job.id for d in got] == [other.id]
        assert store.get(mail.id) == mail
        store.pause("mail")  # pausing twice is harmless
        store.resume("mail")
        assert store.paused() == frozenset()
        assert claim_one(store).job.id == mail.id

    def test_r_f3_a_paused_queue_still_has_its_live_runs_adopted(self, store: JobStore) -> None:
        job = new_job(queue="mail")
        store.submit([job])
        step(store, claim_one(store).job, Spawned(H))
        store.sweep_stale_leases(at(3600))
        store.pause("mail")
        got = store.claim(
            ClaimRequest("w2", limit=1, now=at(3600), lease_until=lease(at(3600)), policy=POLICY)
        )
        assert [d.job.id for d in got] == [job.id]
