"""A job's timeline (R-F4, `core.timeline`): the steps `decide` records travel with the
transition, so every store keeps exactly those, in order, bounded. Claims and lease
sweeps, which SQL stores write in SQL, record the same steps as `decide`."""

from __future__ import annotations

import pytest

from qrun.core import Adopt, Exited, Failed, Finished, Handle, Job, Spawned, Status, Step, timeline
from qrun.core.ports import Applied, Conflict, JobStore

from .base import POLICY, StoreFixtures, claim_one, lease, step, stored
from .builders import at, new_job, ok


def _steps(job: Job | None) -> list[tuple[object, ...]]:
    assert job is not None
    return [(s.at, s.event, s.status, s.attempt, s.worker, s.note) for s in job.history]


class StoreTimeline(StoreFixtures):
    def test_r_f4_every_transition_but_heartbeats_is_on_the_timeline_in_order(self, store: JobStore) -> None:
        job = new_job(max_attempts=2)
        store.submit([job])
        first = step(store, claim_one(store, "w1", at(1)).job, Spawned(Handle("subprocess", "7:1")), at(2))
        assert store.heartbeat("w1", [job.id], lease_until=lease(at(3)), now=at(3)) == frozenset({job.id})
        held = store.get(job.id)
        assert held is not None and held.history == first.history
        back = step(store, held, Failed("OSError: disk full\n  File ..."), at(4))
        now = back.available_at
        again = claim_one(store, "w2", now).job
        exited = step(store, again, Exited(0), at(1000))
        step(store, exited, Finished({"ok": True}), at(1001))
        assert _steps(store.get(job.id)) == [
            (at(1), "Claim", Status.RUNNING, 1, "w1", None),
            (at(2), "Spawned", Status.RUNNING, 1, "w1", "subprocess 7:1"),
            (at(4), "Failed", Status.QUEUED, 1, "w1", "OSError: disk full"),
            (now, "Claim", Status.RUNNING, 2, "w2", None),
            (at(1000), "Exited", Status.RUNNING, 2, "w2", "exit 0"),
            (at(1001), "Finished", Status.DONE, 2, "w2", None),
        ]

    def test_r_f4_a_lapsed_lease_names_the_worker_that_lost_it_and_the_adopter_follows(
        self, store: JobStore
    ) -> None:
        store.submit([new_job()])
        job = claim_one(store, "w1", at(0)).job
        assert store.sweep_stale_leases(at(31)) == 1
        lapsed = store.get(job.id)
        assert _steps(lapsed) == [
            (at(0), "Claim", Status.RUNNING, 1, "w1", None),
            (at(31), "LeaseExpired", Status.RUNNING, 1, "w1", None),
        ]
        assert lapsed is not None
        adopted = claim_one(store, "w2", at(32))
        assert adopted == ok(lapsed, Adopt("w2", lease(at(32))), at(32), POLICY)
        assert _steps(store.get(job.id))[-1] == (at(32), "Adopt", Status.RUNNING, 1, "w2", None)

    def test_r_f4_a_write_that_lost_its_race_leaves_no_step(self, store: JobStore) -> None:
        store.submit([new_job()])
        job = claim_one(store, "w1", at(1)).job
        won = ok(job, Spawned(Handle("subprocess", "1:1")), at(2))
        lost = ok(job, Failed("late"), at(2))
        assert isinstance(store.apply(won), Applied)
        assert isinstance(store.apply(lost), Conflict)
        assert [s.event for s in stored(store, job.id).history] == ["Claim", "Spawned"]

    @pytest.mark.parametrize("how", ["claim", "sweep"])
    def test_r_f4_a_full_timeline_drops_its_oldest_step(self, store: JobStore, how: str) -> None:
        """At `timeline.KEPT` steps the oldest goes, whether the step is written by
        `decide`'s decision or by the store's own claim or sweep."""
        old = tuple(Step(at(i), "Claim", Status.RUNNING, 1, f"w{i}") for i in range(timeline.KEPT))
        job = new_job().evolve(history=old)
        store.submit([job])
        assert store.get(job.id) == job
        claimed = claim_one(store, "w-new", at(200)).job
        if how == "sweep":
            store.sweep_stale_leases(at(300))
            last = Step(at(300), "LeaseExpired", Status.RUNNING, 1, "w-new")
            expected = (*old[2:], claimed.history[-1], last)
        else:
            expected = (*old[1:], Step(at(200), "Claim", Status.RUNNING, 1, "w-new"))
        stored = store.get(job.id)
        assert stored is not None and stored.history == expected
