"""A failed or cancelled dependency ends its dependents (`core.dependents`): the store
carries the end down the chain in the transaction that wrote it, keeps the jobs that
wait (`on_dependency_failure="wait"`), revives on a retry the jobs cancelled for the
retried one, and gives birth cancelled to a job submitted after one that already ended so.
Every path that can end a job is held to it: a decision applied alone, in a batch, or
before a claim, and a claim's heal."""

from __future__ import annotations

import attrs
import pytest

from qrun.core import Cancel, ClaimRequest, Decision, DeleteInputs, Failed, Job, Retry, Status
from qrun.core.ports import Applied, ApplyThenClaim, JobStore

from .base import POLICY, StoreFixtures, claim_one, step
from .builders import at, new_job, ok


def _get(store: JobStore, job_id: str) -> Job:
    job = store.get(job_id)
    assert job is not None, f"{job_id} is gone"
    return job


def _fail(store: JobStore, job_id: str, now: float = 10) -> Job:
    """Claim `job_id` (the only claimable job) and fail it on its last attempt."""
    job = claim_one(store, "w1", at(now - 1)).job
    assert job.id == job_id, f"claimed {job.id}, expected {job_id}"
    return step(store, job, Failed("boom"), at(now))


def _summary(store: JobStore, *ids: str) -> dict[str, tuple[Status, str | None, str | None]]:
    return {i: ((j := _get(store, i)).status, j.cancelled_for, j.error) for i in ids}


class StoreDependents(StoreFixtures):
    def test_a_failed_dependency_cancels_its_chain_saying_why(self, store: JobStore) -> None:
        store.submit([new_job(id="a", max_attempts=1)])
        store.submit([new_job(id="b", depends_on=("a",)), new_job(id="c", depends_on=("b",))])
        _fail(store, "a")
        assert _summary(store, "b", "c") == {
            "b": (Status.CANCELLED, "a", "dependency a ended failed"),
            "c": (Status.CANCELLED, "b", "dependency b ended cancelled"),
        }
        b = _get(store, "b")
        assert b.finished_at == at(10)
        assert (b.history[-1].event, b.history[-1].note) == ("DependencyEnded", "a failed")
        assert store.claim(ClaimRequest("w1", limit=5, now=at(20), lease_until=at(50), policy=POLICY)) == []

    def test_a_dependent_that_waits_stays_queued_and_runs_after_a_retry(self, store: JobStore) -> None:
        store.submit([new_job(id="a", max_attempts=1)])
        store.submit([new_job(id="b", depends_on=("a",), on_dependency_failure="wait")])
        failed = _fail(store, "a")
        assert _summary(store, "b") == {"b": (Status.QUEUED, None, None)}
        step(store, failed, Retry(), at(11))
        step(store, claim_one(store, "w1", at(12)).job, Failed("again"), at(13))
        assert _get(store, "b").status is Status.QUEUED

    def test_a_cancelled_dependency_ends_its_dependents_too(self, store: JobStore) -> None:
        store.submit([new_job(id="a"), new_job(id="b", depends_on=("a",))])
        step(store, _get(store, "a"), Cancel(), at(5))
        assert _summary(store, "b") == {"b": (Status.CANCELLED, "a", "dependency a ended cancelled")}

    def test_a_retry_of_the_dependency_revives_the_chain_cancelled_for_it(self, store: JobStore) -> None:
        store.submit([new_job(id="a", max_attempts=1)])
        store.submit([new_job(id="b", depends_on=("a",)), new_job(id="c", depends_on=("b",))])
        step(store, _fail(store, "a"), Retry(), at(20))
        assert _summary(store, "b", "c") == {
            "b": (Status.QUEUED, None, None),
            "c": (Status.QUEUED, None, None),
        }
        assert _get(store, "b").history[-1].event == "DependencyRetried"

    def test_a_retry_leaves_cancelled_a_job_another_dependency_ended(self, store: JobStore) -> None:
        store.submit([new_job(id="a", max_attempts=1), new_job(id="x")])
        store.submit([new_job(id="c", depends_on=("a", "x"))])
        failed = _fail(store, "a")  # a is the only claimable: x is claimed after
        step(store, _get(store, "x"), Cancel(), at(11))
        step(store, failed, Retry(), at(12))
        assert _summary(store, "c") == {"c": (Status.CANCELLED, "x", "dependency x ended cancelled")}

    def test_a_job_cancelled_by_hand_stays_cancelled_on_a_retry(self, store: JobStore) -> None:
        store.submit([new_job(id="a", max_attempts=1), new_job(id="b", depends_on=("a",))])
        step(store, _get(store, "b"), Cancel(), at(1))
        step(store, _fail(store, "a"), Retry(), at(12))
        assert _summary(store, "b")["b"][:2] == (Status.CANCELLED, None)

    def test_a_job_submitted_after_an_ended_dependency_is_born_cancelled(self, store: JobStore) -> None:
        store.submit([new_job(id="a", max_attempts=1)])
        _fail(store, "a")
        store.submit([new_job(id="b", depends_on=("a",), now=at(30)), new_job(id="c", depends_on=("b",))])
        store.submit([new_job(id="w", depends_on=("a",), on_dependency_failure="wait")])
        assert _summary(store, "b", "c", "w") == {
            "b": (Status.CANCELLED, "a", "dependency a ended failed"),
            "c": (Status.CANCELLED, "b", "dependency b ended cancelled"),
            "w": (Status.QUEUED, None, None),
        }
        assert _get(store, "b").finished_at == at(30)

    def test_a_job_retried_by_hand_while_its_dependency_is_failed_ends_cancelled_again(
        self, store: JobStore
    ) -> None:
        store.submit([new_job(id="a", max_attempts=1), new_job(id="b", depends_on=("a",))])
        _fail(store, "a")
        step(store, _get(store, "b"), Retry(), at(20))
        assert _summary(store, "b") == {"b": (Status.CANCELLED, "a", "dependency a ended failed")}

    def test_the_end_is_carried_down_from_a_batch_and_from_apply_then_claim(self, store: JobStore) -> None:
        store.submit([new_job(id="a"), new_job(id="b"), new_job(id="c", depends_on=("a",))])
        store.submit([new_job(id="d", depends_on=("b",))])
        a, b = _get(store, "a"), _get(store, "b")
        store.apply_many([ok(a, Cancel(), at(1), POLICY)])
        assert _get(store, "c").status is Status.CANCELLED
        cancel_b = ok(b, Cancel(), at(2), POLICY)
        if isinstance(store, ApplyThenClaim):
            store.apply_then_claim(
                [cancel_b], ClaimRequest("w1", limit=1, now=at(2), lease_until=at(30), policy=POLICY)
            )
        else:
            store.apply(cancel_b)
        assert _summary(store, "d") == {"d": (Status.CANCELLED, "b", "dependency b ended cancelled")}

    @pytest.mark.parametrize("beside_a_write", [False, True])
    def test_a_claim_that_heals_a_job_to_failed_ends_its_dependents(
        self, store: JobStore, beside_a_write: bool
    ) -> None:
        """A queued row with no attempt left (R-C1) is healed to failed by the claim that
        meets it, in any claim path; its dependents end with it."""
        store.submit([new_job(id="a"), new_job(id="b", depends_on=("a",))])
        a = _get(store, "a")
        store.apply(Decision(attrs.evolve(a, attempts=a.max_attempts, version=a.version + 1)))
        if beside_a_write and isinstance(store, ApplyThenClaim):
            store.apply_then_claim(
                [], ClaimRequest("w1", limit=5, now=at(3), lease_until=at(30), policy=POLICY)
            )
        else:
            store.claim(ClaimRequest("w1", limit=5, now=at(3), lease_until=at(30), policy=POLICY))
        assert _get(store, "a").status is Status.FAILED
        assert _summary(store, "b") == {"b": (Status.CANCELLED, "a", "dependency a ended failed")}

    def test_the_write_that_ends_a_job_returns_what_it_did_to_its_dependents(self, store: JobStore) -> None:
        """`Applied.then`: the decisions written down the chain, so the caller carries
        out their effects (each dependent's notification, its inputs deleted)."""
        store.submit(
            [new_job(id="a"), new_job(id="b", depends_on=("a",)), new_job(id="c", depends_on=("b",))]
        )
        [got] = store.apply_many([ok(_get(store, "a"), Cancel(), at(1), POLICY)])
        assert isinstance(got, Applied)
        assert [(d.job.id, d.job.status) for d in got.then] == [
            ("b", Status.CANCELLED),
            ("c", Status.CANCELLED),
        ]
        assert all(any(isinstance(e, DeleteInputs) for e in d.effects) for d in got.then)
        assert [d.job for d in got.then] == [_get(store, "b"), _get(store, "c")]
        again = store.apply(ok(_get(store, "a"), Retry(), at(2), POLICY))
        assert isinstance(again, Applied) and [d.job.id for d in again.then] == ["b", "c"]
        assert all(d.job.status is Status.QUEUED for d in again.then)
