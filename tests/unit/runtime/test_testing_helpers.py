"""R-F7: the test helpers shipped for library users."""

import pytest

from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.testing import (
    Drained,
    EagerJobFailed,
    app_for_tests,
    assert_enqueued,
    drain,
    enqueued,
    refute_enqueued,
)
from qrun.contract.builders import T0
from qrun.core import FollowUp, Job, Status


def test_r_f7_eager_mode_runs_the_job_in_the_callers_thread_before_submit_returns():
    import threading

    app = app_for_tests(eager=True)
    seen = []

    @app.task()
    def send(to):
        seen.append(threading.current_thread())
        return f"sent to {to}"

    job_id = app.submit("send", {"to": "a@example.com"})
    job = app.store.get(job_id)
    assert (job.status, job.result) == (Status.DONE, "sent to a@example.com")
    assert seen == [threading.current_thread()]


def test_r_f7_eager_mode_runs_what_a_job_enqueues_and_raises_on_failure():
    app = app_for_tests(eager=True)

    @app.task()
    def first():
        return 1

    @app.task()
    def next():  # the follow-up kind
        return 2

    @app.task()
    def broken():
        raise ValueError("no such customer")

    job_id = app.submit("first", follow_up=FollowUp("next"))
    assert app.store.get(f"{job_id}.next").status is Status.DONE
    with pytest.raises(EagerJobFailed, match="no such customer"):
        app.submit("broken", max_attempts=1)


def test_r_f7_without_eager_jobs_wait_for_drain_and_assertions_say_what_is_there():
    clock = FakeClock(T0)
    app = app_for_tests(clock=clock)
    calls = []

    @app.task()
    def bill(customer, cents=0):
        calls.append(customer)

    app.submit("bill", {"customer": "c1", "cents": 100}, queue="billing")
    app.submit("bill", {"customer": "c2"}, queue="billing", delay_s=60)
    job = assert_enqueued(app.store, kind="bill", payload={"customer": "c1"})
    assert job.queue == "billing"
    refute_enqueued(app.store, kind="refund")
    with pytest.raises(AssertionError, match=r"expected one job matching .* found 2"):
        assert_enqueued(app.store, kind="bill")
    assert drain(app) == Drained(done=1)
    assert calls == ["c1"]
    clock.advance(60)
    assert drain(app) == Drained(done=1)
    assert calls == ["c1", "c2"] and enqueued(app.store) == []


def test_r_f7_an_unknown_task_fails_with_a_message_naming_the_registered_ones():
    app = app_for_tests()

    @app.task()
    def known():
        return None

    with pytest.raises(ValueError, match=r"no task named 'unknwon' in this app \(its tasks: known\)"):
        app.submit("unknwon", max_attempts=1)  # refused at submit: nothing is stored
    assert app.store.list() == []
    # Submitted by an app that knows no tasks (a producer for other workers): a worker
    # that cannot run it leaves it queued for one that can, spending no attempt.
    app.store.submit([Job.new(id="j1", kind="unknwon", now=app.clock.now(), max_attempts=1)])
    assert drain(app) == Drained()
    (job,) = enqueued(app.store, status=Status.QUEUED)
    assert job.attempts == 0
