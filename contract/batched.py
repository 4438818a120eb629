"""`apply_many`: many compare-and-sets in one transaction, each against its own version.

The worker writes its completions this way, so a store that gets it wrong loses or
doubles work at speed: every rule of `apply` holds per decision, and the batch is one
atomic write (a refused batch leaves nothing behind)."""

from __future__ import annotations

from typing import Any, Protocol

import pytest

from qrun.core import (
    Cancel,
    ClaimRequest,
    Decision,
    Failed,
    Finished,
    FollowUp,
    Handle,
    Heartbeat,
    Job,
    Reap,
    ReapReason,
    Retry,
    Spawned,
    Status,
    Unique,
)
from qrun.core.ports import Applied, ApplyResult, ApplyThenClaim, Conflict, JobStore, UniqueConflict

from .base import POLICY, H, StoreFixtures, claim_one, lease, step, stored
from .builders import T0, at, new_job, ok
from .races import together


def _running(store: JobStore, n: int, **kw: Any) -> list[Job]:
    store.submit([new_job(**kw) for _ in range(n)])
    got = store.claim(ClaimRequest("w1", limit=n, now=T0, lease_until=lease(), policy=POLICY))
    assert len(got) == n
    return [d.job for d in got]


class StoreBatchedWrites(StoreFixtures):
    def test_apply_many_of_nothing_writes_nothing(self, store: JobStore) -> None:
        assert store.apply_many([]) == []

    def test_each_decision_is_checked_against_its_own_version(self, store: JobStore) -> None:
        a, b, c = _running(store, 3)
        stale_b = ok(b, Finished("late"), at(1), POLICY)
        b_now = step(store, b, Heartbeat("w1", lease(at(1), 60)), at(1))  # b moved on
        got = store.apply_many(
            [ok(a, Finished("a"), at(2), POLICY), stale_b, ok(c, Failed("c"), at(2), POLICY)]
        )
        assert [type(r) for r in got] == [Applied, Conflict, Applied]
        assert got[1] == Conflict(b_now)
        assert stored(store, a.id).status is Status.DONE and stored(store, a.id).result == "a"
        assert store.get(b.id) == b_now
        assert isinstance(got[2], Applied) and stored(store, c.id) == got[2].job

    def test_it_is_the_same_as_applying_one_after_another(self, store: JobStore) -> None:
        """Two decisions for one job in one batch: the second is made from the first's
        result, so both land; a third made from the original version conflicts."""
        (job,) = _running(store, 1)
        first = ok(job, Spawned(H), at(1), POLICY)
        second = ok(first.job, Finished(7), at(2), POLICY)
        again = ok(job, Failed("stale"), at(2), POLICY)
        got = store.apply_many([first, second, again])
        assert got[:2] == [Applied(first.job), Applied(second.job)]
        assert got[2] == Conflict(second.job)
        assert store.get(job.id) == second.job

    def test_r_b4_follow_ups_are_written_for_the_winners_only(self, store: JobStore) -> None:
        win, lose = _running(store, 2, follow_up=FollowUp("next", {"k": 1}))
        moved = step(store, lose, Cancel(), at(1))  # no handle: cancelled at once
        got = store.apply_many([ok(win, Finished(1), at(2), POLICY), ok(lose, Finished(2), at(2), POLICY)])
        assert [type(r) for r in got] == [Applied, Conflict]
        follow = store.get(f"{win.id}.next")
        assert follow is not None and follow.status is Status.QUEUED and follow.payload == {"k": 1}
        assert store.get(f"{lose.id}.next") is None
        assert store.get(lose.id) == moved

    def test_a_unique_conflict_refuses_the_whole_batch(self, store: JobStore) -> None:
        keyed = new_job(unique=Unique("k"), max_attempts=1)
        store.submit([keyed])
        failed = step(store, step(store, claim_one(store).job, Spawned(H)), Failed("boom"), at(1))
        (other,) = _running(store, 1)
        store.submit([new_job(unique=Unique("k"))])  # takes the key meanwhile
        with pytest.raises(UniqueConflict):
            store.apply_many([ok(other, Finished(None), at(2), POLICY), ok(failed, Retry(), at(2), POLICY)])
        assert store.get(other.id) == other and store.get(failed.id) == failed

    def test_a_batch_racing_single_writers_each_job_has_one_winner(self, store: JobStore) -> None:
        """R-B6: a worker's batch of completions against a reaper and a canceller acting on
        the same versions, job by job: each job ends with exactly one of the writes, and
        a follow-up exists exactly for the jobs the batch finished."""
        jobs = [
            _seen_past_the_ceiling(store, step(store, j, Spawned(H)))
            for j in _running(store, 12, follow_up=FollowUp("next"))
        ]
        late = at(POLICY.max_running_s + 1)
        batch = [ok(j, Finished("batch"), late, POLICY) for j in jobs]
        singles: list[Decision] = [
            ok(j, Reap(ReapReason.CEILING), late, POLICY) if i % 2 else ok(j, Cancel(), late, POLICY)
            for i, j in enumerate(jobs)
        ]

        def act(i: int) -> list[ApplyResult]:
            if i == 0:
                return list(store.apply_many(batch))
            return [store.apply(d) for d in singles[i - 1 :: self.race_threads - 1]]

        results = together(self.race_threads, act)
        batch_won = {d.job.id for d, r in zip(batch, results[0], strict=True) if isinstance(r, Applied)}
        single_won = {r.job.id for part in results[1:] for r in part if isinstance(r, Applied)}
        assert batch_won.isdisjoint(single_won)
        assert batch_won | single_won == {j.id for j in jobs}
        for job in jobs:
            stored = store.get(job.id)
            assert stored is not None and stored.version == job.version + 1
            assert (store.get(f"{job.id}.next") is not None) == (job.id in batch_won)


class BatchingStore(JobStore, ApplyThenClaim, Protocol):
    """A store that offers the optional `ApplyThenClaim`."""


class StoreApplyThenClaim(StoreFixtures):
    """The optional `ApplyThenClaim`: the same results as `apply_many` then `claim`."""

    @pytest.fixture
    def both(self, store: JobStore) -> BatchingStore:
        if not isinstance(store, ApplyThenClaim):
            pytest.skip(f"{type(store).__name__} does not offer ApplyThenClaim (optional)")
        return store

    def test_the_writes_land_first_so_the_claim_sees_the_freed_key(self, both: BatchingStore) -> None:
        store: JobStore = both
        store.submit([new_job(concurrency_key="k") for _ in range(2)])
        first = claim_one(store).job
        (plain,) = _running(store, 1)
        stale = ok(plain, Failed("late"), at(1), POLICY)
        step(store, plain, Heartbeat("w1", lease(at(1), 60)), at(1))
        now = at(2)
        results, claimed = both.apply_then_claim(
            [ok(first, Finished("a"), now, POLICY), stale],
            ClaimRequest(
                "w2",
                limit=5,
                now=now,
                lease_until=lease(now),
                policy=POLICY,
            ),
        )
        assert [type(r) for r in results] == [Applied, Conflict]
        assert results[1] == Conflict(store.get(plain.id))
        [second] = claimed
        assert second.job.concurrency_key == "k" and second.job.lease is not None
        assert second.job.lease.worker == "w2" and store.get(second.job.id) == second.job

    def test_a_batch_naming_a_job_twice_writes_the_first_and_refuses_the_second(
        self, both: BatchingStore
    ) -> None:
        store: JobStore = both
        store.submit([new_job(), new_job()])
        job = step(store, claim_one(store).job, Spawned(Handle("subprocess", "1:1")), at(1))
        first, second = ok(job, Finished("a"), at(2), POLICY), ok(job, Failed("b"), at(2), POLICY)
        results, claimed = both.apply_then_claim(
            [first, second], ClaimRequest("w1", limit=5, now=at(2), lease_until=lease(at(2)), policy=POLICY)
        )
        assert results == [Applied(first.job), Conflict(first.job)]
        assert store.get(job.id) == first.job and len(claimed) == 1

    def test_the_claim_takes_only_the_pools_it_serves(self, both: BatchingStore) -> None:
        store: JobStore = both
        store.set_pool("wt", 1)
        pooled, plain, other = new_job(pool="wt", priority=5), new_job(), new_job()
        store.submit([pooled, plain, other])
        first = step(store, claim_one(store, pools=[]).job, Spawned(Handle("subprocess", "1:1")), at(1))
        left = ({plain.id, other.id} - {first.id}).pop()
        now = at(2)
        results, claimed = both.apply_then_claim(
            [ok(first, Finished(None), now, POLICY)],
            ClaimRequest(
                "w1",
                limit=5,
                now=now,
                lease_until=lease(now),
                policy=POLICY,
                pools=[],
            ),
        )
        assert [type(r) for r in results] == [Applied]
        assert [d.job.id for d in claimed] == [left]
        assert stored(store, pooled.id).status is Status.QUEUED

    def test_with_nothing_to_write_it_is_a_claim(self, both: BatchingStore) -> None:
        store: JobStore = both
        store.submit([new_job(), new_job()])
        results, claimed = both.apply_then_claim(
            [], ClaimRequest("w1", limit=1, now=T0, lease_until=lease(), policy=POLICY)
        )
        assert results == [] and len(claimed) == 1
        assert store.get(claimed[0].job.id) == claimed[0].job

    def test_apply_then_claim_whose_lease_is_over_before_it_starts_claims_nothing(
        self, both: BatchingStore
    ) -> None:
        both.submit([new_job(), new_job()])
        job = claim_one(both).job
        for i, until in enumerate((at(4), at(5))):  # before now, and at it
            results, claimed = both.apply_then_claim(
                [ok(job, Heartbeat("w1", lease(at(5), 60)), at(5), POLICY)]
                if i
                else [ok(job, Spawned(H), at(5), POLICY)],
                ClaimRequest(
                    "w1",
                    limit=5,
                    now=at(5),
                    lease_until=until,
                    policy=POLICY,
                ),
            )
            assert isinstance(results[0], Applied) and claimed == []
            job = results[0].job
        assert sorted(j.status.value for j in both.list()) == ["queued", "running"]

    def test_apply_then_claim_with_a_negative_limit_writes_and_claims_nothing(
        self, both: BatchingStore
    ) -> None:
        both.submit([new_job(), new_job()])
        job = claim_one(both).job
        results, claimed = both.apply_then_claim(
            [ok(job, Spawned(H), at(1), POLICY)],
            ClaimRequest(
                "w1",
                limit=-1,
                now=at(1),
                lease_until=lease(at(1)),
                policy=POLICY,
            ),
        )
        assert isinstance(results[0], Applied) and claimed == []
        assert sorted(j.status.value for j in both.list()) == ["queued", "running"]

    def test_apply_then_claim_writes_a_winners_follow_up_and_claims_in_one_call(
        self, both: BatchingStore
    ) -> None:
        from qrun.core import Finished, FollowUp

        both.submit([new_job(follow_up=FollowUp("next"))])
        job = step(both, claim_one(both).job, Spawned(H))
        results, claimed = both.apply_then_claim(
            [ok(job, Finished(), at(1), POLICY)],
            ClaimRequest(
                "w1",
                limit=1,
                now=at(1),
                lease_until=lease(at(1)),
                policy=POLICY,
            ),
        )
        assert isinstance(results[0], Applied)
        follow = both.get(f"{job.id}.next")
        assert follow is not None and [d.job.id for d in claimed] == [follow.id]


def _seen_past_the_ceiling(store: JobStore, job: Job) -> Job:
    assert job.lease is not None
    return step(store, job, Heartbeat(job.lease.worker, job.lease.until, POLICY.max_running_s))
