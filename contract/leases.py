"""Heartbeats and leases (R-A4, R-B3) and the sweep of expired ones (R-A5)."""

from __future__ import annotations

from qrun.core import ClaimRequest, Heartbeat
from qrun.core.ports import JobStore

from .base import POLICY, StoreFixtures, claim_one, lease
from .builders import T0, at, new_job, ok


class StoreLeases(StoreFixtures):
    def test_a_heartbeat_renews_the_rest_after_an_unknown_id(self, store: JobStore) -> None:
        store.submit([new_job()])
        job = claim_one(store).job
        assert store.heartbeat("w1", ["ghost", job.id], lease_until=at(90), now=at(1)) == {job.id}

    def test_r_a4_heartbeat_extends_only_the_holders_leases(self, store: JobStore) -> None:
        """R-A4: the holder's leases are extended; another worker's call changes nothing."""
        store.submit([new_job() for _ in range(3)])
        mine = [
            d.job
            for d in store.claim(ClaimRequest("w1", limit=2, now=T0, lease_until=lease(), policy=POLICY))
        ]
        theirs = claim_one(store, "w2").job
        ids = [j.id for j in mine] + [theirs.id]
        kept = store.heartbeat("w1", ids, lease_until=at(90), now=at(10))
        assert kept == frozenset(j.id for j in mine)
        for j in mine:
            got = store.get(j.id)
            assert got is not None and got.lease is not None and got.lease.until == at(90)
        assert store.get(theirs.id) == theirs

    def test_r_b3_heartbeats_add_up_the_time_a_run_was_seen_running(self, store: JobStore) -> None:
        """R-B3: the ceiling counts `ran_s`, which heartbeats add to, as decide says; a
        claim starts it from 0 and an adoption keeps it."""
        store.submit([new_job()])
        job = claim_one(store).job
        assert job.ran_s == 0
        store.heartbeat("w1", [job.id], lease_until=at(40), now=at(10), ran_s=10.0)
        beat = store.heartbeat("w1", [job.id], lease_until=at(50), now=at(20), ran_s=9.5)
        got = store.get(job.id)
        assert beat == {job.id} and got is not None and got.ran_s == 19.5
        want = ok(ok(job, Heartbeat("w1", at(40), 10.0), at(10)).job, Heartbeat("w1", at(50), 9.5), at(20))
        assert got == want.job
        assert store.heartbeat("w2", [job.id], lease_until=at(60), now=at(21), ran_s=5.0) == frozenset()
        store.sweep_stale_leases(at(51))
        adopted = claim_one(store, "w2", at(52)).job
        assert adopted.adoptions == 1 and adopted.ran_s == 19.5

    def test_heartbeat_of_a_lost_lease_reports_it_lost(self, store: JobStore) -> None:
        store.submit([new_job()])
        job = claim_one(store).job
        store.sweep_stale_leases(at(31))
        assert store.heartbeat("w1", [job.id, "ghost"], lease_until=at(90), now=at(31)) == frozenset()

    def test_r_a5_sweep_clears_only_expired_leases_and_counts_them(self, store: JobStore) -> None:
        """R-A5: expired leases are cleared (the jobs become adoptable); valid ones stay."""
        store.submit([new_job(), new_job()])
        a = claim_one(store, "w1").job
        b = store.claim(ClaimRequest("w2", limit=1, now=T0, lease_until=at(100), policy=POLICY))[0].job
        assert store.sweep_stale_leases(at(30)) == 1
        got_a, got_b = store.get(a.id), store.get(b.id)
        assert got_a is not None and got_a.adoptable
        assert got_b == b
        assert store.sweep_stale_leases(at(30)) == 0
