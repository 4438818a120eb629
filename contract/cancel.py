"""Cancellation (R-F1): a cancelled job never starts, or ends cancelled."""

from __future__ import annotations

from qrun.core import Cancel, ClaimRequest, Failed, Spawned, Status
from qrun.core.ports import JobStore

from .base import POLICY, H, StoreFixtures, claim_one, lease, step
from .builders import at, new_job


class StoreCancellation(StoreFixtures):
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
        asked = step(store, running, Cancel(), at(1))
        assert asked.cancel_requested
        ended = step(store, asked, Failed("killed"), at(2))
        assert ended.status is Status.CANCELLED and ended.lease is None
        assert claim_one(store, now=at(3)).job.id == second.id
