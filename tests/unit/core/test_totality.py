"""`decide` is total: every status x every event type gives Success or a Rejection that
leaves the job unchanged (the h2 / h11 way)."""

import copy

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from returns.result import Failure, Success

from qrun.contract.builders import T0, new_job
from qrun.contract.strategies import events_of, times
from qrun.core import EVENT_TYPES, TABLE, Claim, Handle, Run, Status, decide
from qrun.core.job import Lease


def job_in(status: Status):
    job = new_job()
    if status is Status.QUEUED:
        return job
    run = Run("r1", handle=Handle("subprocess", "1:1"))
    lease = Lease("w1", T0) if status is Status.RUNNING else None
    finished = None if status is Status.RUNNING else T0
    return attrs.evolve(
        job, status=status, run=run, lease=lease, started_at=T0, attempts=1, finished_at=finished
    )


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=lambda t: t.__name__)
@settings(max_examples=15)
@given(data=st.data(), now=times)
def test_every_status_times_every_event_is_success_or_unchanged_rejection(status, event_type, data, now):
    job = job_in(status)
    event = data.draw(events_of(event_type))
    snapshot = copy.deepcopy(job)
    result = decide(job, event, now)
    assert isinstance(result, Success | Failure)
    assert job == snapshot
    if isinstance(result, Success):
        assert event_type in TABLE[status], "a transition outside the table succeeded"
        after = result.unwrap().job
        assert after.version == job.version + 1
        allowed = TABLE[status][event_type].to
        assert after.status in allowed, f"{event_type.__name__} took {status.value} to {after.status.value}"
    else:
        rejection = result.failure()
        assert (rejection.job_id, rejection.status, rejection.event) == (job.id, status, event_type.__name__)


def test_every_rule_leads_somewhere_and_only_ended_jobs_stop():
    for status, rules in TABLE.items():
        for event, rule in rules.items():
            assert rule.to and rule.to <= set(Status), (status, event)
    assert {to for rules in TABLE.values() for rule in rules.values() for to in rule.to} == set(Status)


def test_the_table_is_the_only_source_of_transitions():
    """Every handler is keyed by a known status and event type."""
    assert set(TABLE) == set(Status)
    for handlers in TABLE.values():
        assert set(handlers) <= set(EVENT_TYPES)


def test_a_rejection_leaves_the_job_exactly_as_it_was():
    job = new_job()
    result = decide(job, Claim("w1", "r", T0), T0)  # lease already expired at claim time
    assert isinstance(result, Failure) and job == new_job(id=job.id)
