"""Resource pools (R-E3), held for every store: a slot is taken in the same atomic step
as the claim, a job whose pool is exhausted waits without blocking others, and every
way out of `running` gives the slot back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import timedelta
from typing import cast

import pytest

from qrun.core import (
    Cancel,
    ClaimRequest,
    Failed,
    Finished,
    Handle,
    Job,
    NothingToAdopt,
    Reap,
    ReapReason,
    Release,
    Spawned,
    SpawnFailed,
    Status,
)
from qrun.core.ports import JobStore

from .base import POLICY, StoreFixtures, claim_one, lease, step, stored
from .builders import T0, at, new_job
from .races import together

H = Handle("subprocess", "77:1")


def holders(store: JobStore, pool: str = "wt") -> dict[int, str]:
    return dict(store.pools()[pool].holders)


def _done(store: JobStore, job: Job) -> Job:
    return step(store, step(store, job, Spawned(H), at(1)), Finished(), at(2))


def _failed_for_good(store: JobStore, job: Job) -> Job:
    return step(store, step(store, job, Spawned(H), at(1)), Failed("boom"), at(2))


def _requeued(store: JobStore, job: Job) -> Job:
    return step(store, step(store, job, Spawned(H), at(1)), Failed("flaky"), at(2))


def _spawn_failed(store: JobStore, job: Job) -> Job:
    return step(store, job, SpawnFailed("no such file"), at(1))


def _cancelled_before_spawn(store: JobStore, job: Job) -> Job:
    return step(store, job, Cancel(), at(1))


def _cancelled_while_running(store: JobStore, job: Job) -> Job:
    asked = step(store, step(store, job, Spawned(H), at(1)), Cancel(), at(2))
    return step(store, asked, Failed("killed"), at(3))


def _reaped(store: JobStore, job: Job) -> Job:
    return step(store, step(store, job, Spawned(H), at(1)), Reap(ReapReason.DEAD), at(2))


def _worker_killed(store: JobStore, job: Job) -> Job:
    """kill -9: the lease runs out and is swept; another worker's claim adopts the run,
    which is gone; the slot stays held until then (the execution may still be alive)."""
    spawned = step(store, job, Spawned(H), at(1))
    assert store.sweep_stale_leases(at(120)) == 1
    assert holders(store) == {0: job.id}, "an orphaned run keeps its slot until it is known dead"
    adopted = claim_one(store, "w2", now=at(121)).job
    assert adopted.id == spawned.id and adopted.pool_slot == 0
    return step(store, adopted, NothingToAdopt(), at(122))


EXITS: dict[str, tuple[Callable[[JobStore, Job], Job], Status]] = {
    "done": (_done, Status.DONE),
    "failed": (_failed_for_good, Status.FAILED),
    "requeued": (_requeued, Status.QUEUED),
    "spawn failed": (_spawn_failed, Status.QUEUED),
    "cancelled before spawn": (_cancelled_before_spawn, Status.CANCELLED),
    "cancelled while running": (_cancelled_while_running, Status.CANCELLED),
    "reaped": (_reaped, Status.QUEUED),
    "worker killed": (_worker_killed, Status.QUEUED),
}


class StorePools(StoreFixtures):
    def test_r_e3_a_declared_pool_is_reported_with_its_size_and_no_holders(self, store: JobStore) -> None:
        store.set_pool("wt", 3)
        store.set_pool("gpu", 1)
        pools = store.pools()
        assert sorted(pools) == ["gpu", "wt"]
        assert (pools["wt"].size, dict(pools["wt"].holders)) == (3, {})

    def test_r_e3_a_bad_pool_size_is_refused(self, store: JobStore) -> None:
        with pytest.raises(ValueError, match="size"):
            store.set_pool("wt", -1)
        assert "wt" not in store.pools()

    def test_r_e3_the_claim_takes_the_lowest_free_slot_with_the_job(self, store: JobStore) -> None:
        store.set_pool("wt", 2)
        a, b = new_job(pool="wt"), new_job(pool="wt")
        store.submit([a, b])
        got = store.claim(ClaimRequest("w1", limit=5, now=T0, lease_until=lease(), policy=POLICY))
        assert [(d.job.id, d.job.pool_slot) for d in got] == [(a.id, 0), (b.id, 1)]
        assert holders(store) == {0: a.id, 1: b.id}
        assert store.get(a.id) == got[0].job

    def test_r_e3_an_exhausted_pool_leaves_its_jobs_queued_and_others_still_start(
        self, store: JobStore
    ) -> None:
        store.set_pool("wt", 1)
        first, waiting = new_job(pool="wt", priority=5), new_job(pool="wt", priority=5)
        other = new_job()
        store.submit([first, waiting, other])
        got = store.claim(ClaimRequest("w1", limit=3, now=T0, lease_until=lease(), policy=POLICY))
        assert [d.job.id for d in got] == [first.id, other.id]
        assert stored(store, waiting.id).status is Status.QUEUED

    def test_r_e3_a_job_of_an_undeclared_pool_waits_until_the_pool_is_declared(self, store: JobStore) -> None:
        job = new_job(pool="gpu")
        store.submit([job])
        assert store.claim(ClaimRequest("w1", limit=1, now=T0, lease_until=lease(), policy=POLICY)) == []
        store.set_pool("gpu", 1)
        assert claim_one(store).job.pool_slot == 0

    def test_r_e3_a_pool_of_size_zero_hands_out_nothing(self, store: JobStore) -> None:
        store.set_pool("wt", 0)
        store.submit([new_job(pool="wt")])
        assert store.claim(ClaimRequest("w1", limit=1, now=T0, lease_until=lease(), policy=POLICY)) == []

    def test_r_e3_a_claim_takes_only_the_pools_it_serves(self, store: JobStore) -> None:
        """A worker without a pool's resources (say, not its worktrees) never takes its
        jobs; jobs outside any pool are everyone's, and the pool's jobs wait for a worker
        that serves it."""
        store.set_pool("wt", 1)
        store.set_pool("gpu", 1)
        gpu, wt, plain = new_job(pool="gpu", priority=9), new_job(pool="wt", priority=5), new_job()
        store.submit([gpu, wt, plain])
        got = store.claim(
            ClaimRequest("w1", limit=5, now=T0, lease_until=lease(), policy=POLICY, pools=["wt"])
        )
        assert [d.job.id for d in got] == [wt.id, plain.id]
        assert stored(store, gpu.id).status is Status.QUEUED
        later = store.claim(
            ClaimRequest("w2", limit=5, now=at(1), lease_until=lease(at(1)), policy=POLICY, pools=None)
        )
        assert [(d.job.id, d.job.pool_slot) for d in later] == [(gpu.id, 0)]

    def test_r_e3_a_claim_serving_no_pool_takes_only_jobs_without_one(self, store: JobStore) -> None:
        store.set_pool("wt", 2)
        pooled, plain = new_job(pool="wt", priority=5), new_job()
        store.submit([pooled, plain])
        for limit in (1, 5):  # the pool's job first in line must not take the only place
            got = store.claim(
                ClaimRequest(
                    "w1",
                    limit=limit,
                    now=T0,
                    lease_until=lease(),
                    policy=POLICY,
                    queues=["default"],
                    pools=[],
                )
            )
            if got:
                break
        assert [d.job.id for d in got] == [plain.id]
        assert stored(store, pooled.id).status is Status.QUEUED

    def test_r_e3_an_orphaned_run_is_adopted_only_by_a_worker_serving_its_pool(self, store: JobStore) -> None:
        store.set_pool("wt", 1)
        store.submit([new_job(pool="wt")])
        spawned = step(store, claim_one(store).job, Spawned(H), at(1))
        assert store.sweep_stale_leases(at(120)) == 1
        elsewhere = store.claim(
            ClaimRequest("w2", limit=5, now=at(121), lease_until=lease(at(121)), policy=POLICY, pools=["gpu"])
        )
        assert elsewhere == []
        [adopted] = store.claim(
            ClaimRequest("w3", limit=5, now=at(122), lease_until=lease(at(122)), policy=POLICY, pools=["wt"])
        )
        assert adopted.job.id == spawned.id and adopted.job.pool_slot == 0

    def test_r_e3_shrinking_a_pool_takes_no_slot_from_a_running_job(self, store: JobStore) -> None:
        store.set_pool("wt", 2)
        jobs = [new_job(pool="wt") for _ in range(4)]
        store.submit(jobs)
        running = store.claim(ClaimRequest("w1", limit=2, now=T0, lease_until=lease(), policy=POLICY))
        store.set_pool("wt", 1)
        assert holders(store) == {0: jobs[0].id, 1: jobs[1].id}
        _done(store, running[0].job)
        # Slot 0 is free and within the new size; slot 1 is still held (and past it).
        assert claim_one(store, now=at(3)).job.pool_slot == 0
        _done(store, running[1].job)
        assert (
            store.claim(ClaimRequest("w1", limit=2, now=at(4), lease_until=lease(at(4)), policy=POLICY)) == []
        )

    @pytest.mark.parametrize("path", sorted(EXITS))
    def test_r_e3_every_way_out_of_running_gives_the_slot_back(self, store: JobStore, path: str) -> None:
        store.set_pool("wt", 1)
        job = new_job(pool="wt", max_attempts=2 if EXITS[path][1] is Status.QUEUED else 1)
        store.submit([job])
        claimed = claim_one(store).job
        assert holders(store) == {0: job.id}
        leave, status = EXITS[path]
        after = leave(store, claimed)
        assert after.status is status and after.pool_slot is None
        assert holders(store) == {}
        store.submit([new_job(pool="wt")])
        assert claim_one(store, now=at(4000)).job.pool_slot == 0

    def test_r_e3_a_released_run_keeps_its_slot_and_its_adopter_holds_it(self, store: JobStore) -> None:
        """Graceful shutdown (R-E4) leaves the run alive for another worker: the slot goes
        with it, since the execution is still using the resource."""
        store.set_pool("wt", 1)
        store.submit([new_job(pool="wt")])
        running = step(store, claim_one(store).job, Spawned(H), at(1))
        released = step(store, running, Release("w1"), at(2))
        assert released.pool_slot == 0 and holders(store) == {0: running.id}
        adopted = claim_one(store, "w2", now=at(3)).job
        assert (adopted.id, adopted.pool_slot) == (running.id, 0)

    def test_r_e3_never_more_holders_than_slots_under_concurrent_claimers(self, store: JobStore) -> None:
        store.set_pool("wt", 3)
        jobs = [new_job(pool="wt") for _ in range(24)]
        store.submit(jobs)
        in_use: dict[int, str] = {}
        guard = threading.Lock()
        problems: list[str] = []
        ran: list[str] = []

        def work(i: int) -> None:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                now = T0 + timedelta(seconds=1)
                got = store.claim(
                    ClaimRequest(f"w{i}", limit=2, now=now, lease_until=lease(now), policy=POLICY)
                )
                if not got:
                    with guard:
                        if len(ran) == len(jobs):
                            return
                    time.sleep(0.001)
                    continue
                with guard:
                    for d in got:
                        slot = d.job.pool_slot
                        assert slot is not None
                        if slot in in_use or not 0 <= slot < 3:
                            problems.append(f"{d.job.id} got slot {slot} held by {in_use.get(slot)}")
                        in_use[slot] = d.job.id
                for d in got:
                    spawned = step(store, d.job, Spawned(H), now)
                    with guard:  # give it up in our books before the store does
                        in_use.pop(cast(int, d.job.pool_slot))
                        ran.append(d.job.id)
                    step(store, spawned, Finished(), now)

        together(self.race_threads, work)
        assert problems == []
        assert sorted(ran) == sorted(j.id for j in jobs)
        assert holders(store) == {}
