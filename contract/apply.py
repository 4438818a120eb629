"""Writing decisions: compare-and-set on the version, batches, follow-ups (R-B4)."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from qrun.core import (
    Backoff,
    Claim,
    ClaimRequest,
    Decision,
    Failed,
    Finished,
    FollowUp,
    Heartbeat,
    Retry,
    Spawned,
    Status,
)
from qrun.core.claim import run_id_for
from qrun.core.ports import Applied, Conflict, EventStore, JobFilter, JobStore
from qrun.core.topics import Settle, TopicEvent

from .base import POLICY, H, StoreFixtures, claim_one, claimed_elsewhere, lease, step, stored
from .builders import T0, at, new_job, ok


class StoreApply(StoreFixtures):
    def test_a_batch_naming_an_unknown_job_twice_conflicts_twice(self, store: JobStore) -> None:
        ghost = ok(claimed_elsewhere(), Finished(None), at(1), POLICY)
        store.submit([new_job()])
        job = step(store, claim_one(store).job, Spawned(H))
        real = ok(job, Finished(None), at(1), POLICY)
        assert store.apply_many([ghost, ghost, real]) == [Conflict(None), Conflict(None), Applied(real.job)]

    def test_versions_past_the_small_integer_cache_still_compare_equal(self, store: JobStore) -> None:
        store.submit([new_job()])
        job = claim_one(store, "w1", T0).job
        for i in range(300):
            job = step(store, job, Heartbeat("w1", lease(at(i), 60)), at(i))
        assert job.version > 256
        stored = store.get(job.id)
        assert stored is not None and stored.version == job.version
        beat = ok(job, Heartbeat("w1", lease(at(300), 60)), at(300), POLICY)
        [applied] = store.apply_many([beat])  # the batched path compares versions too
        assert isinstance(applied, Applied)
        assert isinstance(store.apply(ok(beat.job, Spawned(H), at(301), POLICY)), Applied)

    def test_a_decision_from_a_version_ahead_of_the_stored_one_conflicts(self, store: JobStore) -> None:
        store.submit([new_job()])
        job = store.list()[0]
        ahead = job.evolve(version=job.version + 5)
        d = ok(ahead, Claim("w1", run_id_for(ahead), lease()), T0, POLICY)
        assert store.apply(d) == Conflict(job) and store.get(job.id) == job

    def test_a_decision_for_a_job_that_is_not_stored_conflicts(self, store: JobStore) -> None:
        ghost = new_job()
        assert store.apply(ok(ghost, Claim("w1", "r", lease()), T0, POLICY)) == Conflict(None)
        assert store.get(ghost.id) is None

    def test_retry_resets_attempts_and_transient_attempts_in_the_store(self, store: JobStore) -> None:
        store.submit([new_job(max_attempts=3)])
        job = claim_one(store).job
        back = step(store, job, Failed("busy", transient=True), at(1))
        again = claim_one(store, "w1", back.available_at).job
        failed = step(store, step(store, again, Spawned(H)), Failed("x", final=True), at(99))
        assert (failed.attempts, failed.transient_attempts) == (1, 1)
        retried = step(store, failed, Retry(), at(100))
        assert (retried.attempts, retried.transient_attempts, retried.status) == (0, 0, Status.QUEUED)

    def test_many_decisions_for_fresh_and_unknown_jobs_in_one_batch(self, store: JobStore) -> None:
        store.submit([new_job()])
        job = store.list()[0]
        decisions: list[Decision] = [
            ok(job, Claim("w1", run_id_for(job), lease()), T0, POLICY),
            ok(new_job(), Claim("w1", "r", lease()), T0, POLICY),
        ]
        got = store.apply_many(decisions)
        assert isinstance(got[0], Applied) and got[1] == Conflict(None)

    def test_a_batch_of_thousands_of_decisions_is_written_whole(self, store: JobStore) -> None:
        """More rows than one statement can bind (SQLite binds at most 32,766 values)."""
        n = 7000
        store.submit([new_job(id=f"big-{i:05d}") for i in range(n)])
        claimed = store.claim(ClaimRequest("w1", limit=n, now=T0, lease_until=lease(), policy=POLICY))
        assert len(claimed) == n
        results = store.apply_many([ok(d.job, Spawned(H), at(1), POLICY) for d in claimed])
        assert all(isinstance(r, Applied) for r in results)
        assert all(j.run is not None and j.run.handle == H for j in store.list(JobFilter(limit=n)))

    def test_two_decisions_from_one_version_of_a_job_in_one_batch_the_second_conflicts(
        self, store: JobStore
    ) -> None:
        store.submit([new_job()])
        job = claim_one(store).job
        first, second = ok(job, Spawned(H), at(1), POLICY), ok(job, Failed("x"), at(1), POLICY)
        results = store.apply_many([first, second])
        assert results[0] == Applied(first.job) and results[1] == Conflict(first.job)
        assert store.get(job.id) == first.job

    def test_a_batch_naming_one_job_twice_compares_versions_by_value_and_refuses_the_future(
        self, store: JobStore
    ) -> None:
        store.submit([new_job()])
        job = claim_one(store, "w1", T0).job
        for i in range(300):
            job = step(store, job, Heartbeat("w1", lease(at(i), 60)), at(i))
        beat = ok(job, Heartbeat("w1", lease(at(300), 60)), at(300), POLICY)
        ahead = ok(job.evolve(version=job.version + 5), Heartbeat("w1", lease(at(301), 60)), at(301), POLICY)
        results = store.apply_many([beat, ahead])
        assert results[0] == Applied(beat.job) and isinstance(results[1], Conflict)
        assert store.get(job.id) == beat.job

    def test_a_conflict_in_a_batch_naming_a_job_twice_does_not_stop_the_decisions_after_it(
        self, store: JobStore
    ) -> None:
        store.submit([new_job(), new_job()])
        a, b = (claim_one(store).job for _ in range(2))
        first, stale = ok(a, Spawned(H), at(1), POLICY), ok(a, Failed("x"), at(1), POLICY)
        other = ok(b, Spawned(H), at(1), POLICY)
        results = store.apply_many([first, stale, other])
        assert results == [Applied(first.job), Conflict(first.job), Applied(other.job)]
        assert store.get(b.id) == other.job

    def test_writes_naming_more_ids_than_one_statement_takes_reach_them_all(self, store: JobStore) -> None:
        """Heartbeats, settlements, a batch's clearing and pruning, each naming 1,100 ids:
        more than one SQL statement binds (SQLite takes them in chunks), all reached."""
        n = 1100
        store.submit([new_job(batch="big") for _ in range(n)])
        running = [
            step(store, d.job, Spawned(H))
            for d in store.claim(ClaimRequest("w1", limit=n, now=T0, lease_until=lease(), policy=POLICY))
        ]
        kept = store.heartbeat("w1", [j.id for j in running], lease_until=lease(at(1), 60), now=at(1))
        assert len(kept) == n
        store.apply_many([ok(stored(store, j.id), Finished(None), at(2), POLICY) for j in running])
        assert store.clear_batch("big") == n and store.list(JobFilter(batch="big")) == []
        topics = cast(EventStore, store)
        topics.publish([TopicEvent(id=f"e{i}", topic="t", published_at=T0) for i in range(n)])
        reserved = topics.reserve("t", "c", limit=n, now=T0, until=at(60))
        done = topics.settle([e.id for e in reserved], "c", Settle.CONSUME, now=at(1))
        assert len(reserved) == len(done) == n
        store.submit([new_job() for _ in range(n)])
        for d in store.claim(ClaimRequest("w1", limit=n, now=at(3), lease_until=lease(at(3)), policy=POLICY)):
            step(store, step(store, d.job, Spawned(H), at(3)), Finished(None), at(3))
        assert store.prune(at(3) + timedelta(days=30), {Status.DONE: timedelta(days=1)}, limit=n) == n
        assert store.list(JobFilter(limit=1000)) == []

    def test_a_follow_up_whose_id_exists_already_leaves_that_job_alone(self, store: JobStore) -> None:
        from qrun.core import Finished, FollowUp

        parent = new_job(follow_up=FollowUp("next"))
        there = new_job(id=f"{parent.id}.next", kind="mine", available_at=at(3600))
        store.submit([parent, there])
        step(store, step(store, claim_one(store).job, Spawned(H)), Finished(), at(1))
        assert store.get(there.id) == there

    def test_apply_is_compare_and_set_on_the_version(self, store: JobStore) -> None:
        """R-B6: of two decisions made from the same version, only the first is written."""
        store.submit([new_job()])
        job = step(store, claim_one(store).job, Spawned(H))
        first, second = ok(job, Finished("a"), at(1)), ok(job, Failed("b"), at(1))
        assert isinstance(store.apply(first), Applied)
        lost = store.apply(second)
        assert isinstance(lost, Conflict) and lost.current == first.job
        assert store.get(job.id) == first.job

    def test_apply_to_an_unknown_job_conflicts(self, store: JobStore) -> None:
        ghost = ok(claimed_elsewhere(), Finished(None), at(1))
        assert store.apply(ghost) == Conflict(None)

    def test_a_jobs_own_backoff_is_kept_and_spaces_its_retry(self, store: JobStore) -> None:
        own = Backoff(base_s=90.5, factor=3, cap_s=4000, jitter=0.25)
        job = new_job(backoff=own)
        store.submit([job])
        assert store.get(job.id) == job
        running = step(store, claim_one(store).job, Spawned(H), at(1))
        retried = step(store, running, Failed("flaky"), at(2))
        assert retried.backoff == own and store.get(job.id) == retried
        assert retried.available_at == at(2) + own.delay(job.id, 1)

    def test_r_b4_durable_follow_up_is_written_with_the_winning_write_only(self, store: JobStore) -> None:
        """R-B4/R-B6: the follow-up exists exactly once, and only the winner's."""
        store.submit([new_job(follow_up=FollowUp("stage-2", {"k": 1}))])
        job = step(store, claim_one(store).job, Spawned(H))
        win, lose = ok(job, Finished(1), at(1)), ok(job, Finished(2), at(2))
        assert isinstance(store.apply(win), Applied)
        assert isinstance(store.apply(lose), Conflict)
        follow = store.get(f"{job.id}.next")
        assert follow is not None and follow.kind == "stage-2" and follow.status is Status.QUEUED
        assert follow.payload == {"k": 1}
        assert store.counts()[("default", Status.QUEUED)] == 1

    def test_a_requeued_job_can_be_claimed_again_with_a_new_run(self, store: JobStore) -> None:
        store.submit([new_job(max_attempts=3)])
        first = step(store, claim_one(store).job, Spawned(H))
        back = step(store, first, Failed("boom"), at(1))
        assert back.status is Status.QUEUED and back.clean
        again = claim_one(store, "w2", back.available_at)
        assert again.job.attempts == 2 and again.job.run is not None and first.run is not None
        assert again.job.run.id != first.run.id
