"""A job's timeline (R-F4): one step per accepted event but heartbeats, kept bounded."""

from datetime import timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from qrun.contract.builders import T0, at, new_job, ok
from qrun.contract.strategies import new_jobs, walk
from qrun.core import (
    Claim,
    Exited,
    Failed,
    Handle,
    Heartbeat,
    Job,
    Policy,
    Spawned,
    Status,
    Step,
    timeline,
)
from qrun.core.events import Reap, ReapReason, Recover, SpawnFailed

POLICY = Policy(dead_ticks=2, finalize_grace_s=30, max_running_s=600)


@settings(max_examples=300, deadline=None)
@given(job=new_jobs(), data=st.data(), length=st.integers(1, 60))
def test_every_accepted_event_but_a_heartbeat_adds_its_step_and_nothing_else_does(
    job: Job, data: st.DataObject, length: int
):
    for move in walk(data.draw, job, length, POLICY):
        job, event, now, nxt = move.before, move.event, move.now, move.decision.job
        if isinstance(event, Heartbeat):
            assert nxt.history == job.history
        else:
            last = nxt.history[-1]
            assert nxt.history[:-1] == job.history[-(timeline.KEPT - 1) :]
            assert (last.at, last.event, last.status, last.attempt) == (
                now,
                type(event).__name__,
                nxt.status,
                nxt.attempts,
            )
        assert len(nxt.history) <= timeline.KEPT


def test_a_step_names_who_took_the_job_or_whose_lease_it_came_under_and_a_short_note():
    job = new_job(max_attempts=3)
    claimed = ok(job, Claim("w1", "r1", at(30)), at(1)).job
    spawned = ok(claimed, Spawned(Handle("subprocess", "4242:99")), at(2)).job
    failed = ok(spawned, Failed("ValueError: bad\nTraceback (most recent call last): ..."), at(3)).job
    assert failed.history == (
        Step(at(1), "Claim", Status.RUNNING, 1, "w1"),
        Step(at(2), "Spawned", Status.RUNNING, 1, "w1", "subprocess 4242:99"),
        Step(at(3), "Failed", Status.QUEUED, 1, "w1", "ValueError: bad"),
    )
    again = ok(failed, Claim("w2", "r2", at(900)), at(600)).job
    exited = ok(again, Exited(3), at(601)).job
    assert exited.history[-2:] == (
        Step(at(600), "Claim", Status.RUNNING, 2, "w2"),
        Step(at(601), "Exited", Status.RUNNING, 2, "w2", "exit 3"),
    )
    reaped = ok(exited, Reap(ReapReason.EXIT_FAILED), at(700), POLICY).job
    assert reaped.history[-1].note == "exit_failed"


def test_a_recovery_names_the_worker_that_left_the_job_and_a_long_error_is_cut():
    job = ok(new_job(), Claim("w1", "r1", at(30)), at(1)).job
    recovered = ok(job, Recover("w1"), at(2)).job
    assert recovered.history[-1] == Step(at(2), "Recover", Status.RUNNING, 1, "w1")
    fresh = ok(new_job(), Claim("w1", "r1", at(30)), at(1)).job
    failed = ok(fresh, SpawnFailed("x" * 1000), at(2)).job
    assert failed.history[-1].note == "x" * 200  # the README's promise
    blank = ok(fresh, Failed("   "), at(2)).job
    assert blank.history[-1].note is None


def test_only_the_last_steps_are_kept():
    steps = tuple(Step(at(i), "Claim", Status.RUNNING, 1, "w") for i in range(timeline.KEPT))
    full = new_job().evolve(history=steps)
    nxt = ok(full, Claim("w9", "r9", at(530)), at(500)).job
    assert len(nxt.history) == timeline.KEPT
    assert nxt.history[0] == steps[1] and nxt.history[-1].worker == "w9"
    assert nxt.history[0].at > T0


def test_a_job_retried_sixty_times_keeps_the_last_hundred_steps():
    """Two steps an attempt (a claim, a failure): the first ten attempts' steps are gone."""
    job = new_job(max_attempts=60)
    now = at(0)
    for n in range(60):
        job = ok(job, Claim("w", f"r{n}", now + timedelta(seconds=30)), now, POLICY).job
        job = ok(job, Failed(f"boom {n}"), now, POLICY).job
        now = job.available_at
    assert len(job.history) == 100
    assert [(s.event, s.attempt) for s in job.history[:2]] == [("Claim", 11), ("Failed", 11)]
    assert job.history[-1].note == "boom 59" and job.status is Status.FAILED
