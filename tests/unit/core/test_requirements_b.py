"""Section B of REQUIREMENTS.md, as pure assessment and guarded transitions."""

from datetime import timedelta

import attrs
import pytest

from qrun.contract.builders import T0, at, new_job, ok, rejected
from qrun.core import (
    Claim,
    EnqueueJob,
    Exited,
    Failed,
    Finished,
    FollowUp,
    Gate,
    Handle,
    Heartbeat,
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


def seen(job, seconds, now=T0):
    """`job` after its holder's heartbeat reports it saw the run running `seconds` more."""
    return ok(job, Heartbeat("w1", at(30), seconds), now).job


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
    """R-B3: seen running `max_running_s` (by its holders' heartbeats), the job is reaped
    even if reported alive or unknown; a second short of it, it is not."""
    old = seen(seen(running(), 3000), 600)
    a = assess(old, obs, at(3600), P, 0)
    assert a.reap == Reap(ReapReason.CEILING)
    d = ok(old, a.reap, at(3600), P)
    assert d.job.status is Status.QUEUED and d.job.clean and d.job.ran_s == 0
    young = seen(running(), 3599)
    assert assess(young, obs, at(3600), P, 0).reap is None
    assert "under the ceiling" in rejected(young, Reap(ReapReason.CEILING), at(3600), P).reason


def test_r_b3_a_wall_clock_jump_does_not_age_a_run():
    """R-B3: the ceiling counts what live workers saw, never the wall clock: a run 10 s
    old is not reaped when the clock is set a day forward (or a year)."""
    job = seen(running(), 10)
    for jump in (25 * 3600, 365 * 24 * 3600):
        assert assess(job, ALIVE, at(jump), P, 0).reap is None
        assert "under the ceiling" in rejected(job, Reap(ReapReason.CEILING), at(jump), P).reason


def test_r_b3_a_run_whose_exit_is_recorded_is_ended_by_tier_2_not_the_ceiling():
    """A run past the ceiling whose exit 0 is recorded is over: killing and re-running it
    would run a finished command again. Tier 2 ends it once the grace has passed."""
    job = ok(seen(running(), 4000), Exited(0), at(10)).job
    assert assess(job, ALIVE, at(20), P, 0).reap is None
    assert "exit is recorded" in rejected(job, Reap(ReapReason.CEILING), at(20), P).reason
    assert assess(job, Observation(gate=Gate.GREEN), at(310), P).reap == Reap(ReapReason.EXIT_OK)


def test_heartbeats_add_up_the_time_seen_running_and_a_fresh_run_starts_from_zero():
    job = seen(seen(running(), 10), 2.5)
    assert job.ran_s == 12.5
    back = ok(job, Failed("boom"), at(20)).job
    assert back.ran_s == 0
    again = ok(back, Claim("w2", "run-2", back.available_at + timedelta(seconds=30)), back.available_at).job
    assert again.ran_s == 0
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="ran_s"):
            Heartbeat("w1", at(30), bad)


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
