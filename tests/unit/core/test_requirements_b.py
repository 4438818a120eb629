"""Section B of REQUIREMENTS.md, as pure assessment and guarded transitions."""

from datetime import timedelta

import attrs
import pytest
from qrun.contract.builders import T0, at, new_job, ok, rejected
from qrun.core import (
    Claim,
    EnqueueJob,
    Exited,
    Finished,
    FollowUp,
    Gate,
    Handle,
    Liveness,
    Notify,
    Observation,
    Policy,
    Reap,
    ReapReason,
    Spawned,
    Status,
    assess,
    needs_gate,
)

H = Handle("subprocess", "1:2")
P = Policy(dead_ticks=2, finalize_grace_s=300, max_running_s=3600)


def running(**kw):
    job = new_job(**kw)
    job = ok(job, Claim("w1", "run-1", at(30)), T0).job
    return ok(job, Spawned(H)).job


def exited(code, at_s=10, **kw):
    return ok(running(**kw), Exited(code), at(at_s)).job


DEAD, ALIVE, UNKNOWN = (Observation(x) for x in (Liveness.DEAD, Liveness.ALIVE, Liveness.UNKNOWN))


def test_r_b1_dead_is_reaped_only_after_dead_ticks_consecutive_observations():
    """R-B1: one dead tick is not enough; the second consecutive one reaps."""
    job = running()
    first = assess(job, DEAD, at(60), P, 0)
    assert first.reap is None and first.dead_streak == 1
    second = assess(job, DEAD, at(70), P, first.dead_streak)
    assert second.reap == Reap(ReapReason.DEAD)


def test_r_b1_alive_resets_the_streak():
    """R-B1: an alive observation between dead ones resets the streak."""
    job = running()
    s = assess(job, DEAD, at(60), P, 0).dead_streak
    s = assess(job, ALIVE, at(70), P, s).dead_streak
    assert s == 0
    assert assess(job, DEAD, at(80), P, s).reap is None


def test_r_b2_alive_and_younger_than_ceiling_is_never_reaped():
    """R-B2: alive below the ceiling is never reaped, however many ticks."""
    job = running()
    streak = 0
    for t in range(0, 3599, 60):
        a = assess(job, ALIVE, at(t), P, streak)
        assert a.reap is None
        streak = a.dead_streak


@pytest.mark.parametrize("obs", [ALIVE, UNKNOWN, DEAD])
def test_r_b3_ceiling_reaps_whatever_the_liveness(obs):
    """R-B3: past `max_running_s` the job is reaped even if reported alive or unknown."""
    a = assess(running(), obs, at(3600), P, 0)
    assert a.reap == Reap(ReapReason.CEILING)
    d = ok(running(), a.reap, at(3600), P)
    assert d.job.status is Status.QUEUED and d.job.clean


def test_r_b4_exit_zero_gate_green_is_done_with_exactly_one_follow_up():
    """R-B4: exit 0, gate green: done, and the follow-up is a durable effect of that write."""
    job = exited(0, follow_up=FollowUp("stage-2", {"n": 1}))
    assert needs_gate(job, at(310), P)
    a = assess(job, Observation(gate=Gate.GREEN), at(310), P)
    d = ok(job, a.reap, at(310), P)
    assert d.job.status is Status.DONE
    follow = [e for e in d.durable if isinstance(e, EnqueueJob)]
    assert len(follow) == 1 and follow[0].job.kind == "stage-2"
    # Whoever comes second sees `done`: the reap is refused, so no second follow-up.
    assert rejected(d.job, a.reap, at(320), P).status is Status.DONE


def test_r_b4_exit_zero_gate_red_requeues_without_follow_up():
    """R-B4: exit 0 but the gate is red: requeued, no follow-up."""
    job = exited(0, follow_up=FollowUp("stage-2"))
    a = assess(job, Observation(gate=Gate.RED), at(310), P)
    d = ok(job, a.reap, at(310), P)
    assert d.job.status is Status.QUEUED and not d.durable


def test_r_b4_exit_zero_already_advanced_is_done_without_second_follow_up():
    """R-B4: the follow-up already happened: done, and nothing enqueued again."""
    job = exited(0, follow_up=FollowUp("stage-2"))
    d = ok(job, assess(job, Observation(gate=Gate.ADVANCED), at(310), P).reap, at(310), P)
    assert d.job.status is Status.DONE and not d.durable


def test_r_b4_non_zero_exit_requeues_then_fails_with_alert():
    """R-B4: non-zero exit requeues while attempts remain, else failed with an alert."""
    job = exited(2, max_attempts=2)
    d = ok(job, assess(job, UNKNOWN, at(310), P).reap, at(310), P)
    assert d.job.status is Status.QUEUED
    last = exited(2, max_attempts=1)
    d = ok(last, assess(last, UNKNOWN, at(310), P).reap, at(310), P)
    assert d.job.status is Status.FAILED
    assert any(isinstance(e, Notify) and e.alert for e in d.effects)


def test_r_b4_gate_not_consulted_means_no_verdict():
    """R-B4: exit 0 without a gate answer is never guessed at."""
    assert assess(exited(0), UNKNOWN, at(310), P).reap is None


def test_r_b5_tier2_waits_for_the_finalize_grace():
    """R-B5: an exit code recorded less than `finalize_grace_s` ago is left alone."""
    job = exited(1, at_s=10)
    assert assess(job, DEAD, at(309), P, 5).reap is None
    assert not needs_gate(exited(0, at_s=10), at(309), P)
    assert "grace" in rejected(job, Reap(ReapReason.EXIT_FAILED), at(309), P).reason
    assert assess(job, DEAD, at(310), P).reap == Reap(ReapReason.EXIT_FAILED)


def test_r_b6_the_loser_of_a_race_decided_from_a_stale_version_and_loses_on_reread():
    """R-B6: a finisher and the reaper decide from the same version; once the finisher's
    write lands, the reaper's decision expects a stale version (a CAS store refuses it,
    tested per store in the contract suite) and re-deciding on what is stored is refused,
    so the reaper performs no side effect."""
    job = exited(0, follow_up=FollowUp("stage-2"))
    finish = ok(job, Finished("r"), at(310), P)
    reap = ok(job, Reap(ReapReason.EXIT_OK), at(310), P)
    assert finish.expected_version == reap.expected_version == job.version
    assert finish.job.version > reap.expected_version
    assert rejected(finish.job, Reap(ReapReason.EXIT_OK), at(311), P).status is Status.DONE


@pytest.mark.parametrize("status", [Status.QUEUED, Status.DONE, Status.FAILED, Status.CANCELLED])
@pytest.mark.parametrize("reason", list(ReapReason))
def test_r_b7_reaping_a_job_that_is_not_running_is_refused(status, reason):
    """R-B7: every reap is guarded; reaping anything but a running job changes nothing."""
    job = attrs.evolve(new_job(), status=status, finished_at=None if status is Status.QUEUED else T0)
    r = rejected(job, Reap(reason), at(10_000), P)
    assert r.status is status


def test_r_b7_assess_ignores_jobs_that_are_not_running():
    """R-B7: the assessment of a finished job is no verdict."""
    done = ok(exited(0), Finished(None), at(20), P).job
    assert assess(done, DEAD, at(99_999), P, 9).reap is None


def test_tier1_unknown_liveness_keeps_the_streak():
    a = assess(running(), UNKNOWN, at(10), P, 1)
    assert a.reap is None and a.dead_streak == 1


def test_assess_uses_dead_ticks_from_policy():
    p3 = attrs.evolve(P, dead_ticks=3)
    job = running()
    s = 0
    for _ in range(2):
        a = assess(job, DEAD, at(10), p3, s)
        assert a.reap is None
        s = a.dead_streak
    assert assess(job, DEAD, at(10), p3, s).reap == Reap(ReapReason.DEAD)
    assert timedelta(seconds=p3.max_running_s) > timedelta(0)
