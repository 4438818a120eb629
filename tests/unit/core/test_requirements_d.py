"""Section D rules decided purely: the event lifecycle (R-D4) and what a workflow session
runs next (R-D1, R-D3..R-D5, R-D7..R-D9)."""

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qrun.contract.builders import T0, at
from qrun.core.topics import EventRefused, EventStatus, Settle, TopicEvent, reserve, settle
from qrun.core.workflow import (
    Complete,
    Fail,
    HandlerRun,
    Role,
    RunHandler,
    RunStatus,
    Trigger,
    WorkflowSpec,
    next_step,
    session_cost,
)

E = TopicEvent(id="e1", topic="t", published_at=T0, payload={"k": 1})


def test_r_d4_pending_reserved_consumed():
    r = reserve(E, "c1", at(1), at(30))
    assert (r.status, r.reserved_by, r.reserved_until, r.deliveries) == (
        EventStatus.RESERVED,
        "c1",
        at(30),
        1,
    )
    done = settle(r, "c1", Settle.CONSUME, at(2))
    assert (done.status, done.settled_at, done.reserved_by) == (EventStatus.CONSUMED, at(2), None)


def test_r_d4_release_makes_it_pending_again_and_skip_sets_it_aside_with_the_reason():
    r = reserve(E, "c1", at(1), at(30))
    assert settle(r, "c1", Settle.RELEASE, at(2), "boom").status is EventStatus.PENDING
    skipped = settle(r, "c1", Settle.SKIP, at(2), "bad payload")
    assert (skipped.status, skipped.note) == (EventStatus.SKIPPED, "bad payload")
    assert not skipped.available(at(10**6))


def test_r_d4_only_the_holder_of_the_current_reservation_settles():
    r = reserve(E, "c1", at(1), at(30))
    with pytest.raises(EventRefused, match="not reserved by c2"):
        settle(r, "c2", Settle.CONSUME, at(2))
    taken = reserve(r, "c2", at(30), at(60))  # c1's reservation ran out
    with pytest.raises(EventRefused, match="not reserved by c1"):
        settle(taken, "c1", Settle.CONSUME, at(31))
    with pytest.raises(EventRefused, match="not available"):
        reserve(taken, "c3", at(31), at(90))


def test_bad_events_are_refused_clearly():
    with pytest.raises(ValueError, match="payload must be plain JSON"):
        TopicEvent(id="e", topic="t", published_at=T0, payload={"x": {1, 2}})
    with pytest.raises(ValueError, match="topic must be a non-empty string"):
        TopicEvent(id="e", topic="", published_at=T0)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["c1", "c2"]), st.sampled_from(list(Settle)) | st.none(), st.integers(0, 90)
        )
    )
)
def test_r_d4_an_event_is_never_lost_and_consumed_at_most_once(steps):
    """Any sequence of reserve and settle attempts: the event is consumed at most once, and
    while it is not consumed or skipped, it is available again by some later time."""
    e, now, consumed = E, T0, 0
    for consumer, how, gap in steps:
        now += timedelta(seconds=gap)
        try:
            e = (
                reserve(e, consumer, now, now + timedelta(seconds=30))
                if how is None
                else settle(e, consumer, how, now)
            )
        except EventRefused:
            continue
        consumed += e.status is EventStatus.CONSUMED and how is Settle.CONSUME
        assert consumed <= 1
    if e.status in (EventStatus.PENDING, EventStatus.RESERVED):
        assert e.available(now + timedelta(seconds=31))


# -- sessions ----------------------------------------------------------------------------

W = WorkflowSpec(name="w", producers=("p1", "p2", "p3"), consumers=("c1", "c2"), topic="t", max_iterations=2)
OK, FAILED = RunStatus.OK, RunStatus.FAILED


def ran(handler, iteration=0, status=OK, cost=None, role=None):
    role = role or (Role.PRODUCER if handler.startswith("p") else Role.CONSUMER)
    return HandlerRun(iteration, handler, role, status, cost)


def test_r_d1_invalid_handler_configuration_fails_naming_the_workflow_and_the_problem():
    bad = WorkflowSpec(name="etl", producers=("p",), consumers=("c",), topic=None)
    step = next_step(bad, Trigger.MANUAL, [], 0)
    assert isinstance(step, Fail) and "workflow etl" in step.error and "no topic" in step.error
    missing = next_step(W, Trigger.MANUAL, [], 0, known=frozenset({"p1", "p2", "c1", "c2"}))
    assert isinstance(missing, Fail) and "no handler registered as p3" in missing.error


def test_r_d1_an_empty_workflow_completes():
    assert isinstance(next_step(WorkflowSpec(name="e"), Trigger.MANUAL, [], 5), Complete)


def test_r_d9_producers_run_in_order_before_consumers():
    assert next_step(W, Trigger.MANUAL, [], 3) == RunHandler("p1", Role.PRODUCER, 0)
    assert next_step(W, Trigger.SCHEDULE, [ran("p1")], 3) == RunHandler("p2", Role.PRODUCER, 0)
    assert next_step(W, Trigger.MANUAL, [ran("p1"), ran("p2"), ran("p3")], 3) == RunHandler(
        "c1", Role.CONSUMER, 1
    )


def test_r_d9_a_partial_producer_failure_stops_the_session_before_the_rest():
    """p1 ok, p2 fails, p3 never runs."""
    step = next_step(W, Trigger.MANUAL, [ran("p1"), ran("p2", status=FAILED)], 3)
    assert isinstance(step, Fail) and "producer p2 failed" in step.error


def test_r_d3_an_event_trigger_skips_the_producers():
    assert next_step(W, Trigger.EVENT, [], 1) == RunHandler("c1", Role.CONSUMER, 1)


def test_r_d4_consumers_run_only_when_events_are_pending():
    producers = [ran("p1"), ran("p2"), ran("p3")]
    assert next_step(W, Trigger.MANUAL, producers, 0) == Complete("no pending events")
    assert next_step(W, Trigger.EVENT, [], 0) == Complete("no pending events")


def test_r_d4_a_consumer_failure_ends_its_iteration_but_not_the_session():
    assert next_step(W, Trigger.EVENT, [ran("c1", 1, FAILED)], 2) == RunHandler("c1", Role.CONSUMER, 2)
    assert next_step(W, Trigger.EVENT, [ran("c1", 1), ran("c2", 1, FAILED)], 2) == RunHandler(
        "c1", Role.CONSUMER, 2
    )


def test_r_d5_the_budget_bounds_the_session():
    runs = [ran("c1", 1), ran("c2", 1), ran("c1", 2), ran("c2", 2)]
    assert next_step(W, Trigger.EVENT, runs, 10) == Complete("budget of 2 iteration(s) spent")


def test_r_d5_r_d8_a_resumed_session_counts_iterations_from_the_stored_runs():
    """A crash after c1 of iteration 2: the resume runs c2 of iteration 2, then stops."""
    runs = [ran("p1"), ran("p2"), ran("p3"), ran("c1", 1), ran("c2", 1), ran("c1", 2)]
    assert next_step(W, Trigger.MANUAL, runs, 10) == RunHandler("c2", Role.CONSUMER, 2)
    assert isinstance(next_step(W, Trigger.MANUAL, [*runs, ran("c2", 2)], 10), Complete)


def test_r_d7_cost_is_the_sum_of_the_runs_ignoring_missing_costs():
    assert session_cost([ran("p1", cost=1.5), ran("p2"), ran("c1", 1, cost=0.25)]) == 1.75
    assert session_cost([]) == 0


@given(st.data())
def test_r_d5_r_d9_a_session_driven_to_its_end_never_passes_its_budget(data):
    """Drive next_step with random outcomes: producers never run after a consumer, no
    handler runs twice in an iteration, and iterations never pass the budget."""
    spec = WorkflowSpec(
        name="w",
        producers=tuple(f"p{i}" for i in range(data.draw(st.integers(0, 3)))),
        consumers=tuple(f"c{i}" for i in range(data.draw(st.integers(0, 3)))),
        topic="t",
        max_iterations=data.draw(st.integers(1, 4)),
    )
    trigger = data.draw(st.sampled_from(list(Trigger)))
    runs: list[HandlerRun] = []
    for _ in range(40):
        step = next_step(spec, trigger, runs, data.draw(st.integers(0, 3)))
        if not isinstance(step, RunHandler):
            break
        assert (step.iteration, step.handler) not in {(r.iteration, r.handler) for r in runs}
        failed_in = {r.iteration for r in runs if r.role is Role.CONSUMER and r.status is RunStatus.FAILED}
        assert step.iteration not in failed_in or step.role is Role.PRODUCER
        assert not (step.role is Role.PRODUCER and any(r.role is Role.CONSUMER for r in runs))
        assert step.iteration <= spec.max_iterations
        runs.append(
            HandlerRun(step.iteration, step.handler, step.role, data.draw(st.sampled_from(list(RunStatus))))
        )
    else:
        raise AssertionError("a session never ended")
