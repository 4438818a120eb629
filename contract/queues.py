"""Pausing a queue (R-F3): its jobs are kept and none is handed out."""

from __future__ import annotations

from qrun.core import ClaimRequest, Spawned
from qrun.core.ports import JobStore

from .base import POLICY, H, StoreFixtures, claim_one, lease, step
from .builders import T0, at, new_job


class StoreQueuePause(StoreFixtures):
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
