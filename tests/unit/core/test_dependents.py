"""A failed or cancelled dependency ends its dependents (core.dependents, issue 29): by
default they end cancelled, saying which dependency, down the chain; `wait` keeps them
queued; a retry of the dependency brings back the ones cancelled for it."""

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qrun.contract.builders import T0, at, new_job, ok, rejected
from qrun.core import (
    Cancel,
    Claim,
    DependencyEnded,
    DependencyFailure,
    DependencyRetried,
    EndDependents,
    Failed,
    Notify,
    Retry,
    ReviveDependents,
    Status,
)
from qrun.core.dependents import at_submit, ended, pending, revived, still_blocked

LATER = T0 + timedelta(minutes=5)


def _fail(job):
    """`job` claimed and failed on its last attempt, at LATER."""
    claimed = ok(job, Claim("w", "r1", at(60)), T0).job
    return ok(claimed, Failed("boom"), LATER)


def test_the_end_of_a_job_announces_itself_to_its_dependents():
    end = _fail(new_job(id="a", max_attempts=1))
    assert end.job.status is Status.FAILED
    assert EndDependents("a", Status.FAILED, LATER) in end.effects
    cancel = ok(new_job(id="b"), Cancel(), LATER)
    assert EndDependents("b", Status.CANCELLED, LATER) in cancel.effects
    ends, revives = pending([end, cancel])
    assert set(ends) == {"a", "b"} and revives == {}


def test_a_dependent_ends_cancelled_saying_which_dependency():
    b = new_job(id="b", depends_on=("a",))
    d = ok(b, DependencyEnded("a", Status.FAILED), LATER)
    assert d.job.status is Status.CANCELLED
    assert d.job.error == "dependency a ended failed"
    assert d.job.cancelled_for == "a" and d.job.finished_at == LATER
    assert d.job.history[-1].event == "DependencyEnded" and d.job.history[-1].note == "a failed"
    assert EndDependents("b", Status.CANCELLED, LATER) in d.effects  # on down the chain
    assert any(isinstance(e, Notify) and "dependency a ended failed" in e.message for e in d.effects)


def test_a_dependent_that_waits_is_left_queued():
    b = new_job(id="b", depends_on=("a",), on_dependency_failure="wait")
    assert b.on_dependency_failure is DependencyFailure.WAIT
    assert "on_dependency_failure=wait" in str(rejected(b, DependencyEnded("a", Status.FAILED)))
    assert ended([b], {"a": EndDependents("a", Status.FAILED, LATER)}) == []


def test_only_a_failed_or_cancelled_dependency_of_its_own_ends_a_job():
    b = new_job(id="b", depends_on=("a",))
    assert "does not depend on z" in str(rejected(b, DependencyEnded("z", Status.FAILED)))
    assert "only failed or cancelled" in str(rejected(b, DependencyEnded("a", Status.DONE)))
    running = ok(b, Claim("w", "r1", LATER), T0).job
    assert "applies only to queued jobs" in str(rejected(running, DependencyEnded("a", Status.FAILED)))


def test_an_unknown_policy_is_refused_with_the_choices():
    with pytest.raises(ValueError, match="must be 'cancel' or 'wait', not 'skip'"):
        new_job(depends_on=("a",), on_dependency_failure="skip")


def test_a_retry_of_the_dependency_revives_the_jobs_cancelled_for_it():
    gone = ok(new_job(id="b", depends_on=("a",)), DependencyEnded("a", Status.FAILED), LATER).job
    again = ok(_fail(new_job(id="a", max_attempts=1)).job, Retry(), LATER)
    ends, revives = pending([again])
    assert revives == {"a": ReviveDependents("a", LATER)} and ends == {}
    [back] = revived([gone], revives, {}.get)
    assert back.job.status is Status.QUEUED and back.job.cancelled_for is None and back.job.error is None
    assert back.job.finished_at is None and back.job.attempts == 0
    assert ReviveDependents("b", LATER) in back.effects  # and its own dependents after it


def test_a_job_cancelled_by_hand_is_not_revived_by_its_dependency():
    by_hand = ok(new_job(id="b", depends_on=("a",)), Cancel(), LATER).job
    assert revived([by_hand], {"a": ReviveDependents("a", LATER)}, {}.get) == []
    assert "not cancelled for dependency a" in str(rejected(by_hand, DependencyRetried("a", ())))


def test_a_revived_job_with_another_dependency_ended_stays_cancelled_for_that_one():
    gone = ok(new_job(id="c", depends_on=("a", "b")), DependencyEnded("a", Status.FAILED), LATER).job
    [d] = revived([gone], {"a": ReviveDependents("a", LATER)}, {"b": Status.CANCELLED}.get)
    assert d.job.status is Status.CANCELLED
    assert d.job.cancelled_for == "b" and d.job.error == "dependency b ended cancelled"
    assert pending([d]) == ({}, {})  # nothing further down changes


def test_a_job_retried_by_hand_while_its_dependency_is_failed_ends_cancelled_again():
    gone = ok(new_job(id="b", depends_on=("a",)), DependencyEnded("a", Status.FAILED), LATER).job
    again = ok(gone, Retry(), LATER)
    _, revives = pending([again])
    [d] = still_blocked([again.job], revives, {"a": Status.FAILED}.get)
    assert d.job.status is Status.CANCELLED and d.job.cancelled_for == "a"
    assert still_blocked([again.job], revives, {"a": Status.QUEUED}.get) == []


def test_a_job_submitted_after_an_ended_dependency_is_born_cancelled_down_the_batch():
    b = new_job(id="b", depends_on=("a",))
    c = new_job(id="c", depends_on=("b",))
    w = new_job(id="w", depends_on=("a",), on_dependency_failure="wait")
    out = {j.id: j for j in at_submit([c, b, w], {"a": Status.FAILED}.get)}
    assert out["b"].status is Status.CANCELLED and out["b"].error == "dependency a ended failed"
    assert out["c"].status is Status.CANCELLED and out["c"].cancelled_for == "b"
    assert out["b"].finished_at == b.requested_at
    assert out["w"].status is Status.QUEUED
    assert at_submit([b], {"a": Status.DONE}.get) == [b]


@given(
    policy=st.sampled_from(list(DependencyFailure)),
    status=st.sampled_from(list(Status)),
)
def test_a_dependency_ends_a_queued_job_exactly_when_the_rule_says(policy, status):
    b = new_job(id="b", depends_on=("a",), on_dependency_failure=policy)
    out = ended([b], {"a": EndDependents("a", status, LATER)})
    should = policy is DependencyFailure.CANCEL and status in (Status.FAILED, Status.CANCELLED)
    assert [d.job.status for d in out] == ([Status.CANCELLED] if should else [])
