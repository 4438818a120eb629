"""Unique keys (R-F1): who holds a key, when it is freed, and batches that hand one over."""

from __future__ import annotations

from datetime import timedelta

import pytest

from qrun.core import Failed, Heartbeat, Retry, Spawned, Status, Unique
from qrun.core.ports import (
    Applied,
    DuplicateJob,
    JobFilter,
    JobStore,
    UniqueConflict,
    UnknownDependency,
    unique_conflict_message,
)

from .base import POLICY, H, StoreFixtures, claim_one, finish, lease, step, stored
from .builders import at, new_job, ok


class StoreUniqueKeys(StoreFixtures):
    def test_clearing_a_batch_frees_the_unique_keys_its_jobs_held(self, store: JobStore) -> None:
        done = Unique("k", finished=frozenset({Status.FAILED}))  # still held once failed
        job = new_job(unique=done, batch="b")
        store.submit([job])
        step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        assert store.clear_batch("b") == 1
        again = new_job(unique=done)
        assert store.submit([again]) == [again.id]

    @pytest.mark.parametrize("holder_sorts_first", [True, False])
    def test_a_write_taking_a_held_unique_key_is_refused_whichever_id_sorts_first(
        self, store: JobStore, holder_sorts_first: bool
    ) -> None:
        first, second = ("a-job", "z-job") if holder_sorts_first else ("z-job", "a-job")
        key = Unique("k")
        taker = new_job(id=second, unique=key, max_attempts=2)
        store.submit([taker])
        failed = step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        store.submit([new_job(id=first, unique=key)])  # takes the key meanwhile
        with pytest.raises(UniqueConflict):
            store.apply(ok(failed, Retry(), at(2), POLICY))
        assert store.get(second) == failed

    def test_a_batch_taking_a_held_key_names_the_taker_not_the_holder(self, store: JobStore) -> None:
        """The holder's own write comes first in the batch: it keeps its key, and the
        refusal names the job that tried to take it, and the holder."""
        key = Unique("k")
        taker = new_job(id="job-taker", unique=key, max_attempts=2)
        store.submit([taker])
        failed = step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        store.submit([new_job(id="job-holder", unique=key)])
        holder = claim_one(store, "w2", at(2)).job
        keep = ok(holder, Heartbeat("w2", lease(at(3), 60)), at(3), POLICY)
        retry = ok(failed, Retry(), at(3), POLICY)
        with pytest.raises(UniqueConflict) as refused:
            store.apply_many([keep, retry])
        assert str(refused.value) == unique_conflict_message(retry.job, "job-holder")
        assert store.get("job-taker") == failed and store.get("job-holder") == holder

    def test_one_batch_may_hand_a_unique_key_from_the_job_that_frees_it_to_one_that_takes_it(
        self, store: JobStore
    ) -> None:
        key = Unique("k")
        first, second = new_job(unique=key), new_job(unique=key, max_attempts=2)
        store.submit([second])
        failed = step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        store.submit([first])  # holds the key now that `second` failed
        running = step(store, claim_one(store, "w1", at(2)).job, Spawned(H), at(2))
        done = ok(running, Failed("x", final=True), at(3), POLICY)  # frees the key...
        retry = ok(failed, Retry(), at(3), POLICY)  # ...which the retry takes, in the same batch
        assert all(isinstance(r, Applied) for r in store.apply_many([done, retry]))
        assert stored(store, second.id).status is Status.QUEUED

    def test_pruning_a_job_frees_the_unique_key_it_held(self, store: JobStore) -> None:
        held = Unique("k", finished=frozenset({Status.FAILED}))
        job = new_job(unique=held)
        store.submit([job])
        step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        assert store.prune(at(10), {Status.FAILED: timedelta(0)}, limit=10) == 1
        again = new_job(unique=held)
        assert store.submit([again]) == [again.id]

    def test_one_batch_cannot_give_one_free_unique_key_to_two_jobs(self, store: JobStore) -> None:
        key = Unique("k")
        a, b = new_job(unique=key, max_attempts=2), new_job(unique=key, max_attempts=2)
        store.submit([a])
        fa = step(store, step(store, claim_one(store).job, Spawned(H)), Failed("x", final=True), at(1))
        store.submit([b])
        fb = step(
            store,
            step(store, claim_one(store, "w1", at(2)).job, Spawned(H), at(2)),
            Failed("x", final=True),
            at(3),
        )
        with pytest.raises(UniqueConflict):
            store.apply_many([ok(fa, Retry(), at(4), POLICY), ok(fb, Retry(), at(4), POLICY)])
        assert (store.get(a.id), store.get(b.id)) == (fa, fb)

    def test_a_unique_job_with_an_unknown_dependency_is_refused_and_nothing_is_stored(
        self, store: JobStore
    ) -> None:
        keyed = new_job(unique=Unique("k1"), depends_on=("job-missing-parent",))
        with pytest.raises(UnknownDependency, match="job-missing-parent"):
            store.submit([keyed, new_job(unique=Unique("k2"))])
        assert store.list() == []

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
