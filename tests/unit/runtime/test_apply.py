"""The one way the runtime applies decisions: many at once, compare-and-set, effects of
the winners only, a fenced step decided again from the stored version when its write
lost, an unfenced one dropped (R-B6, R-G2)."""

from datetime import timedelta

from fakes import CountingStore, FakeRunner

from qrun.adapters.memory import MemoryStore
from qrun.bootstrap.runtime.apply import Applier, Change, Effects
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.contract.base import claim_one, step
from qrun.contract.builders import T0, new_job
from qrun.core import (
    Cancel,
    Failed,
    Fence,
    Finished,
    Handle,
    Heartbeat,
    Kill,
    Notify,
    Policy,
    Spawned,
    Status,
)

P = Policy()


def _env(runner=None):
    store, clock, notes = CountingStore(), FakeClock(T0), []
    effects = Effects({"fake": runner or FakeRunner()}, notify=notes.append)
    return store, clock, notes, Applier(store, effects, policy=P, clock=clock)


def _running(store, n=1, **kw):
    store.submit([new_job(**kw) for _ in range(n)])
    return [claim_one(store).job for _ in range(n)]


def test_many_steps_are_one_batched_write_and_each_winner_notifies():
    store, _clock, notes, applier = _env()
    jobs = _running(store, 3)
    store.batches.clear()
    got = applier.apply([Change(j, Finished(i), Fence.of(j)) for i, j in enumerate(jobs)])
    assert store.batches == [3]
    assert [o.decision.job.status for o in got] == [Status.DONE] * 3
    assert sorted(n.job_id for n in notes if n.topic == "done") == sorted(j.id for j in jobs)


def test_a_fenced_step_that_lost_is_decided_again_from_the_stored_version():
    """Its holder's heartbeat moved the version on: the exit still lands, once."""
    store, _clock, _notes, applier = _env()
    (job,) = _running(store)
    moved = step(store, job, Heartbeat("w1", T0 + timedelta(seconds=90)))
    [got] = applier.apply([Change(job, Finished("r"), Fence.of(job))])
    assert got.decision is not None and got.decision.job.version == moved.version + 1
    assert store.get(job.id).status is Status.DONE and store.get(job.id).result == "r"


def test_a_fenced_step_is_dropped_once_its_fence_no_longer_holds():
    """Another worker adopted the run meanwhile: nothing is written, nothing notified."""
    store, _clock, notes, applier = _env()
    (job,) = _running(store)
    taken = step(store, job, Cancel())  # no handle yet: cancelled at once
    [got] = applier.apply([Change(job, Failed("late"), Fence.of(job))])
    assert got.decision is None and got.current == taken
    assert store.get(job.id) == taken and notes == []


def test_an_unfenced_step_that_lost_is_dropped_not_retried():
    """The reaper acts only on the version it judged."""
    store, _clock, notes, applier = _env()
    (job,) = _running(store)
    moved = step(store, job, Heartbeat("w1", T0 + timedelta(seconds=90)))
    [got] = applier.apply([Change(job, Finished(None))])
    assert got.decision is None and got.rejection.reason == "changed meanwhile"
    assert store.get(job.id) == moved and notes == []


def test_a_rejected_step_writes_nothing_and_says_why():
    store, _clock, _notes, applier = _env()
    (job,) = _running(store)
    store.batches.clear()
    [got] = applier.apply(
        [
            Change(job, Spawned(Handle("fake", "x")), Fence.of(job)),
        ]
    )
    assert got.decision is not None
    [again] = applier.apply([Change(got.decision.job, Spawned(Handle("fake", "y")), Fence.of(job))])
    assert again.decision is None and "already stamped" in again.rejection.reason
    assert store.batches == [1]  # the rejected one never reached the store


def test_kill_goes_to_the_runner_named_in_the_handle():
    runner = FakeRunner()
    store, _clock, _notes, applier = _env(runner)
    (job,) = _running(store)
    job = step(store, job, Spawned(Handle("fake", "ref-1")))
    got = applier.event(job.id, Cancel())
    assert any(isinstance(e, Kill) for e in got.decision.effects)
    assert runner.killed == ["ref-1"]


def test_an_effect_that_raises_never_undoes_the_write():
    def broken(note: Notify) -> None:
        raise RuntimeError("webhook down")

    store = MemoryStore()
    applier = Applier(store, Effects({}, notify=broken), policy=P, clock=FakeClock(T0))
    (job,) = _running(store)
    [got] = applier.apply([Change(job, Finished(None), Fence.of(job))])
    assert got.decision is not None and store.get(job.id).status is Status.DONE


def test_a_by_hand_event_that_lost_is_decided_again_from_the_newer_version():
    """qrun cancel racing a heartbeat: the cancel still lands, on the version after it."""
    (job,) = _running(store := MemoryStore())

    class RacedOnce(MemoryStore):
        raced = False

        def get(self, job_id):
            return store.get(job_id)

        def apply_many(self, decisions):
            if not self.raced:
                self.raced = True
                step(store, store.get(job.id), Heartbeat("w1", T0 + timedelta(seconds=90)))
            return store.apply_many(decisions)

    applier = Applier(RacedOnce(), Effects({}), policy=P, clock=FakeClock(T0))
    got = applier.event(job.id, Cancel())
    assert got.decision is not None and store.get(job.id).status is Status.CANCELLED
    assert got.decision.job.version == job.version + 2


def test_the_dependents_a_write_ended_get_their_effects_carried_out_too():
    """A cancel ends the jobs that wait for it in the store's transaction; their own
    notifications and input deletions come back with the write and are carried out."""
    notes, deleted = [], []
    store = MemoryStore()
    effects = Effects({}, notify=notes.append, delete_inputs=deleted.append)
    applier = Applier(store, effects, policy=P, clock=FakeClock(T0))
    store.submit([new_job(id="a"), new_job(id="b", depends_on=("a",))])
    assert applier.event("a", Cancel()).decision is not None
    assert store.get("b").status is Status.CANCELLED
    assert [n.message for n in notes if n.job_id == "b"] == ["job b cancelled: dependency a ended cancelled"]
    assert deleted == ["a", "b"]
