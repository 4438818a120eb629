"""Claiming (R-A3): what a claim takes, in what order, and what it writes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from qrun.core import AdoptRun, Claim, ClaimRequest, Failed, Finished, Release, Spawn, Spawned, Status
from qrun.core.claim import run_id_for
from qrun.core.ports import JobFilter, JobStore

from .base import POLICY, H, StoreFixtures, claim_one, lease, step
from .builders import T0, at, new_job, ok


class StoreClaim(StoreFixtures):
    def test_a_claim_hands_out_adoptable_jobs_first_and_queued_ones_only_up_to_the_limit(
        self, store: JobStore
    ) -> None:
        store.submit([new_job(), new_job()])
        for d in store.claim(ClaimRequest("w1", limit=2, now=T0, lease_until=lease(), policy=POLICY)):
            step(store, d.job, Spawned(H))
        store.submit([new_job() for _ in range(4)])
        assert store.sweep_stale_leases(at(31)) == 2
        got = store.claim(ClaimRequest("w2", limit=3, now=at(31), lease_until=lease(at(31)), policy=POLICY))
        kinds = [d.job.adoptions for d in got]
        assert len(got) == 3 and kinds == [1, 1, 0]  # two adopted, then one queued: never 2 + 3
        assert len(store.list(JobFilter(status=Status.QUEUED))) == 3

    @pytest.mark.parametrize("orphans", [1, 2])
    def test_a_claim_that_adopts_some_fills_the_rest_of_its_limit_with_queued_jobs(
        self, store: JobStore, orphans: int
    ) -> None:
        store.submit([new_job() for _ in range(orphans)])
        for d in store.claim(ClaimRequest("w1", limit=orphans, now=T0, lease_until=lease(), policy=POLICY)):
            step(store, d.job, Spawned(H))
        store.submit([new_job() for _ in range(6)])
        assert store.sweep_stale_leases(at(31)) == orphans
        got = store.claim(ClaimRequest("w2", limit=4, now=at(31), lease_until=lease(at(31)), policy=POLICY))
        assert [d.job.adoptions for d in got] == [1] * orphans + [0] * (4 - orphans)

    def test_a_claim_whose_lease_is_over_before_it_starts_takes_nothing(self, store: JobStore) -> None:
        store.submit([new_job()])
        for until in (T0, T0 - timedelta(seconds=1)):
            assert store.claim(ClaimRequest("w1", limit=1, now=T0, lease_until=until, policy=POLICY)) == []
        (job,) = store.list()
        assert job.status is Status.QUEUED and job.version == 1

    def test_a_negative_limit_claims_and_prunes_nothing(self, store: JobStore) -> None:
        # SQL reads LIMIT -1 as "no limit": a store must not pass it through.
        store.submit([new_job(), new_job()])
        assert store.claim(ClaimRequest("w1", limit=-1, now=T0, lease_until=lease(), policy=POLICY)) == []
        assert {j.status for j in store.list()} == {Status.QUEUED}
        done = step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        assert store.prune(at(10**6), {Status.FAILED: timedelta(0)}, limit=-1) == 0
        assert store.get(done.id) == done

    @pytest.mark.parametrize("pool", [None, "p"])
    def test_a_claim_of_hundreds_takes_exactly_its_limit(self, store: JobStore, pool: str | None) -> None:
        """Counts past the small-integer cache (the general path, where jobs need a pool
        slot, and the one-statement path)."""
        store.set_pool("p", 400)
        store.submit([new_job(pool=pool) for _ in range(300)])
        got = store.claim(ClaimRequest("w1", limit=260, now=T0, lease_until=lease(), policy=POLICY))
        assert len(got) == 260
        assert len(store.list(JobFilter(status=Status.QUEUED, limit=1000))) == 40

    def test_claim_on_an_empty_store_takes_nothing(self, store: JobStore) -> None:
        assert store.claim(ClaimRequest("w1", limit=5, now=T0, lease_until=lease(), policy=POLICY)) == []

    def test_r_a3_claim_sets_running_lease_start_and_attempt_atomically(self, store: JobStore) -> None:
        """R-A3: one claim makes the job running, leased, stamped and counted."""
        job = new_job()
        store.submit([job])
        d = claim_one(store, "w1", at(2))
        stored = store.get(job.id)
        assert stored == d.job
        assert stored is not None and stored.status is Status.RUNNING
        assert stored.lease is not None and (stored.lease.worker, stored.lease.until) == ("w1", lease(at(2)))
        assert stored.started_at == at(2) and stored.attempts == 1
        assert stored.run is not None and stored.run.handle is None  # R-C2
        assert d.external == (Spawn(job.id, stored.run.id),)

    def test_a_claim_is_exactly_what_decide_decides(self, store: JobStore) -> None:
        """A store may write the claim in its own language (SQL): the decisions it returns
        are still decide's, field for field and effect for effect, for fresh jobs and
        for a job requeued after a failure."""
        store.submit([new_job(max_attempts=3)])
        back = step(store, step(store, claim_one(store).job, Spawned(H)), Failed("boom"), at(1))
        assert back.status is Status.QUEUED and back.attempts == 1
        fresh = [new_job(priority=2), new_job(payload={"k": [1, "x"]})]
        store.submit(fresh)
        before = {j.id: store.get(j.id) for j in [back, *fresh]}
        now = at(1 + POLICY.backoff.cap_s)
        got = store.claim(ClaimRequest("w1", limit=5, now=now, lease_until=lease(now), policy=POLICY))
        assert {d.job.id for d in got} == set(before)
        for d in got:
            job = before[d.job.id]
            assert job is not None
            assert d == ok(job, Claim("w1", run_id_for(job), lease(now)), now, POLICY)

    def test_a_clock_set_back_never_stamps_a_start_before_the_request(self, store: JobStore) -> None:
        """The wall clock is set back between a failure and the next claim: the claim is
        still decide's, which stamps `started_at` no earlier than `requested_at`."""
        store.submit([new_job(now=at(100), max_attempts=3)])
        first = step(store, claim_one(store, "w1", at(100)).job, Spawned(H), at(100))
        back = step(store, first, Failed("boom"), at(10))  # the clock went back 90 s
        assert back.available_at < back.requested_at
        got = claim_one(store, "w1", back.available_at)
        assert got == ok(
            back, Claim("w1", run_id_for(back), lease(back.available_at)), back.available_at, POLICY
        )
        assert got.job.started_at == back.requested_at

    def test_r_a3_adoptable_jobs_are_claimed_before_queued_ones(self, store: JobStore) -> None:
        """R-A3: a running job with a cleared lease is handed out before any queued job."""
        first = new_job(priority=-10)
        store.submit([first])
        job = step(store, claim_one(store, "w1").job, Spawned(H))
        store.submit([new_job(priority=10)])
        assert store.sweep_stale_leases(at(31)) == 1
        d = claim_one(store, "w2", at(31))
        assert d.job.id == first.id and d.job.lease is not None and d.job.lease.worker == "w2"
        assert d.job.run is not None and job.run is not None
        assert d.job.run.epoch == job.run.epoch + 1
        assert d.external == (AdoptRun(first.id, job.run.id, H),)

    def test_claim_order_is_priority_then_availability_then_age(self, store: JobStore) -> None:
        a = new_job(id="o-a", priority=1, now=at(0))
        b = new_job(id="o-b", priority=5, now=at(3))
        c = new_job(id="o-c", priority=1, now=at(0), available_at=at(1))
        d = new_job(id="o-d", priority=1, now=at(2))
        store.submit([d, c, b, a])
        got = store.claim(ClaimRequest("w1", limit=10, now=at(5), lease_until=lease(at(5)), policy=POLICY))
        assert [x.job.id for x in got] == ["o-b", "o-a", "o-c", "o-d"]

    def test_a_delayed_job_is_not_claimed_before_it_is_available(self, store: JobStore) -> None:
        store.submit([new_job(available_at=at(60))])
        assert (
            store.claim(ClaimRequest("w1", limit=1, now=at(59), lease_until=lease(at(59)), policy=POLICY))
            == []
        )
        claim_one(store, "w1", at(60))

    def test_batch_claim_takes_up_to_limit(self, store: JobStore) -> None:
        store.submit([new_job() for _ in range(5)])
        assert len(store.claim(ClaimRequest("w1", limit=3, now=T0, lease_until=lease(), policy=POLICY))) == 3
        assert len(store.claim(ClaimRequest("w2", limit=3, now=T0, lease_until=lease(), policy=POLICY))) == 2
        assert store.claim(ClaimRequest("w3", limit=3, now=T0, lease_until=lease(), policy=POLICY)) == []

    def test_concurrency_key_limit_holds_across_claims(self, store: JobStore) -> None:
        """R-F1: never more running jobs of one key than its limit."""
        store.submit([new_job(concurrency_key="k", concurrency_limit=2) for _ in range(4)] + [new_job()])
        got = store.claim(ClaimRequest("w1", limit=10, now=T0, lease_until=lease(), policy=POLICY))
        assert sum(d.job.concurrency_key == "k" for d in got) == 2 and len(got) == 3
        assert store.claim(ClaimRequest("w2", limit=10, now=T0, lease_until=lease(), policy=POLICY)) == []
        one = next(d.job for d in got if d.job.concurrency_key == "k")
        step(store, one, Finished(None), at(1))
        assert (
            len(store.claim(ClaimRequest("w2", limit=10, now=at(1), lease_until=lease(at(1)), policy=POLICY)))
            == 1
        )

    def test_dependencies_hold_a_job_until_all_are_done(self, store: JobStore) -> None:
        """R-F1: a job waits for every job it depends on to be done."""
        p1, p2 = new_job(priority=1), new_job(priority=1)
        child = new_job(priority=9, depends_on=(p1.id, p2.id))
        store.submit([p1, p2, child])
        got = store.claim(ClaimRequest("w1", limit=10, now=T0, lease_until=lease(), policy=POLICY))
        assert {d.job.id for d in got} == {p1.id, p2.id}
        step(store, got[0].job, Finished(None), at(1))
        assert (
            store.claim(ClaimRequest("w1", limit=10, now=at(1), lease_until=lease(at(1)), policy=POLICY))
            == []
        )
        step(store, got[1].job, Finished(None), at(2))
        assert claim_one(store, "w1", at(2)).job.id == child.id

    def test_claim_honours_the_queue_filter(self, store: JobStore) -> None:
        store.submit([new_job(queue="a"), new_job(queue="b")])
        d = claim_one(store, "w1", queues=["b"])
        assert d.job.queue == "b"
        assert (
            store.claim(ClaimRequest("w1", limit=5, now=T0, lease_until=lease(), policy=POLICY, queues=["c"]))
            == []
        )

    @pytest.mark.parametrize("keyed", [False, True])  # the one-statement claim, and the general one
    def test_claim_takes_only_the_kinds_the_claimer_can_run(self, store: JobStore, keyed: bool) -> None:
        key = {"concurrency_key": "k", "concurrency_limit": 5} if keyed else {}
        store.submit([new_job(kind="task.a", priority=9, **key), new_job(kind="command", **key)])
        got = store.claim(
            ClaimRequest("w1", limit=5, now=T0, lease_until=lease(), policy=POLICY, kinds=["command"])
        )
        assert [d.job.kind for d in got] == ["command"]
        assert (
            store.claim(ClaimRequest("w1", limit=5, now=T0, lease_until=lease(), policy=POLICY, kinds=[]))
            == []
        )
        (left,) = store.list(JobFilter(status=Status.QUEUED))
        assert (left.kind, left.attempts) == ("task.a", 0)

    def test_an_orphan_is_adopted_only_by_a_claimer_of_its_kind(self, store: JobStore) -> None:
        store.submit([new_job(kind="task.a")])
        job = step(store, claim_one(store, "w1").job, Spawned(H))
        store.apply(ok(job, Release("w1"), T0, POLICY))
        assert (
            store.claim(
                ClaimRequest("w2", limit=5, now=T0, lease_until=lease(), policy=POLICY, kinds=["command"])
            )
            == []
        )
        assert claim_one(store, "w3", kinds=["task.a"]).job.adoptions == 1
