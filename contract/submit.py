"""Submitting jobs: atomic batches, ids, dependencies, and every field kept."""

from __future__ import annotations

from datetime import timedelta

import attrs
import pytest

from qrun.core import ClaimRequest, Decision, FollowUp, OrphanPolicy, Run, Status
from qrun.core.ports import Applied, ApplyThenClaim, DuplicateJob, JobStore, UnknownDependency, WorkflowStore
from qrun.core.topics import Settle

from .base import POLICY, H, StoreFixtures, lease
from .builders import T0, at, new_job
from .topics import event


class StoreSubmit(StoreFixtures):
    def test_the_ports_parameters_can_be_named_as_the_port_names_them(self, store: WorkflowStore) -> None:
        store.submit(jobs=[new_job()])
        got = store.claim(
            request=ClaimRequest(worker="w1", limit=1, now=T0, lease_until=lease(), policy=POLICY)
        )
        assert len(got) == 1
        kept = store.heartbeat(worker="w1", job_ids=[got[0].job.id], lease_until=lease(at(1)), now=at(1))
        assert kept == {got[0].job.id}
        beaten = store.get(got[0].job.id)
        assert beaten is not None and beaten.ran_s == 0  # no ran_s given: no time added
        if isinstance(store, ApplyThenClaim):  # optional
            results, _ = store.apply_then_claim(
                decisions=[],
                request=ClaimRequest(
                    worker="w1", limit=0, now=at(1), lease_until=lease(at(1)), policy=POLICY
                ),
            )
            assert results == []
        assert store.prune(now=at(1), keep={Status.DONE: timedelta(0)}, limit=1) == 0
        store.publish(events=[event("kw", id="kw1")])
        held = store.reserve(topic="kw", consumer="c", limit=1, now=at(1), until=at(60))
        done = store.settle(ids=[e.id for e in held], consumer="c", how=Settle.CONSUME, now=at(2), note=None)
        assert done == ["kw1"]

    def test_the_refusal_of_a_batch_naming_one_id_twice_names_only_that_id(self, store: JobStore) -> None:
        dup, solo = new_job(id="job-dup"), new_job(id="job-solo")
        with pytest.raises(DuplicateJob) as refused:
            store.submit([dup, solo, dup])
        assert "job-dup" in str(refused.value) and "job-solo" not in str(refused.value)
        assert store.list() == []

    def test_submit_then_get_returns_the_same_job(self, store: JobStore) -> None:
        job = new_job(payload={"argv": ["echo", "hi"], "n": 1, "nested": {"a": [1, 2]}}, priority=3)
        assert store.submit([job]) == [job.id]
        assert store.get(job.id) == job

    def test_get_of_an_unknown_id_is_none(self, store: JobStore) -> None:
        assert store.get("no-such-job") is None

    def test_batch_submit_is_atomic(self, store: JobStore) -> None:
        """A batch with one bad job inserts nothing."""
        ok_job, dup = new_job(), new_job()
        store.submit([dup])
        with pytest.raises(DuplicateJob, match=dup.id):
            store.submit([ok_job, dup])
        assert store.get(ok_job.id) is None

    def test_duplicate_ids_within_a_batch_are_refused(self, store: JobStore) -> None:
        job = new_job()
        with pytest.raises(DuplicateJob):
            store.submit([job, attrs.evolve(job)])
        assert store.get(job.id) is None

    def test_unknown_dependency_is_refused_and_nothing_inserted(self, store: JobStore) -> None:
        job = new_job(depends_on=("missing-parent",))
        with pytest.raises(UnknownDependency, match="missing-parent"):
            store.submit([job])
        assert store.get(job.id) is None

    def test_dependency_within_the_same_batch_is_accepted(self, store: JobStore) -> None:
        parent = new_job()
        child = new_job(depends_on=(parent.id,))
        assert store.submit([parent, child]) == [parent.id, child.id]

    def test_a_large_batch_is_stored_whole(self, store: JobStore) -> None:
        jobs = [new_job() for _ in range(500)]
        store.submit(jobs)
        assert sum(store.counts().values()) == 500

    def test_every_field_survives_a_round_trip(self, store: JobStore) -> None:
        parent = new_job()
        job = new_job(
            payload={"s": "é ✓", "f": 1.5, "b": True, "none": None, "list": [1, "2"]},
            queue="q2",
            priority=-4,
            max_attempts=7,
            available_at=at(5),
            concurrency_key="key",
            concurrency_limit=3,
            depends_on=(parent.id,),
            follow_up=FollowUp("next", {"x": 1}, "q3"),
            orphan_policy=OrphanPolicy.RETRY,
        )
        store.submit([parent, job])
        assert store.get(job.id) == job
        running = attrs.evolve(
            job,
            status=Status.RUNNING,
            attempts=2,
            transient_attempts=1,
            started_at=at(6),
            run=Run(f"{job.id}/2", epoch=3, handle=H, exit_code=3, exit_recorded_at=at(7)),
            lease=None,
            adoptions=2,
            spawn_failures=3,
            cancel_requested=True,
            error="err ✗",
            result={"r": [1, 2]},
            version=job.version + 1,
        )
        assert isinstance(store.apply(Decision(running)), Applied)
        assert store.get(job.id) == running
