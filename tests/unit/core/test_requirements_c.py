"""Section C of REQUIREMENTS.md: run ownership, decided purely."""

from datetime import timedelta

import attrs
import pytest

from qrun.contract.builders import T0, at, new_job, ok, rejected
from qrun.core import (
    Adopt,
    Backoff,
    Claim,
    Exited,
    Failed,
    Finished,
    Handle,
    Heartbeat,
    Liveness,
    NothingToAdopt,
    Notify,
    Observation,
    Policy,
    Reap,
    ReapReason,
    Recover,
    Retry,
    Sanitize,
    Spawned,
    SpawnFailed,
    Status,
    assess,
    violations,
)

H = Handle("subprocess", "1:2")
P = Policy(max_running_s=3600, finalize_grace_s=0)


def claimed(**kw):
    return ok(new_job(**kw), Claim("w1", "run-1", at(30)), T0).job


def spawned(**kw):
    return ok(claimed(**kw), Spawned(H)).job


def requeue_paths():
    """Every path from running back to queued, as (name, job, event, now)."""
    s = spawned()
    adopted = ok(attrs.evolve(s, lease=None), Adopt("w2", at(60)), at(40)).job
    return [
        ("failure", s, Failed("boom"), at(5)),
        ("transient", s, Failed("busy", transient=True), at(5)),
        ("spawn failed", claimed(), SpawnFailed("no such file"), at(5)),
        ("nothing to adopt", adopted, NothingToAdopt(), at(45)),
        ("reap dead", s, Reap(ReapReason.DEAD), at(5)),
        ("reap ceiling", ok(s, Heartbeat("w1", at(30), 3600)).job, Reap(ReapReason.CEILING), at(3600)),
        ("reap exit", ok(s, Exited(3), at(5)).job, Reap(ReapReason.EXIT_FAILED), at(6)),
    ]


@pytest.mark.parametrize(
    ("name", "job", "event", "now"), requeue_paths(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_r_c1_every_path_back_to_queued_clears_ownership(name, job, event, now):
    """R-C1: requeue, transient requeue, reap and spawn failure all leave the job clean."""
    d = ok(job, event, now, P)
    assert d.job.status is Status.QUEUED
    assert d.job.run is None and d.job.lease is None and d.job.started_at is None
    assert violations(d.job) == ()


def test_r_c1_restart_recovery_then_adoption_of_nothing_requeues_clean():
    """R-C1: restart recovery clears the lease; if nothing is left to adopt, the job goes
    back to queued clean."""
    job = ok(spawned(), Recover("w1"), at(10)).job
    assert job.status is Status.RUNNING and job.lease is None
    job = ok(job, Adopt("w9", at(90)), at(11)).job
    assert ok(job, NothingToAdopt(), at(12)).job.clean


def test_r_c1_retry_from_failed_is_clean():
    failed = ok(spawned(max_attempts=1), Failed("x"), at(2)).job
    job = ok(failed, Retry(), at(3)).job
    assert job.status is Status.QUEUED and job.clean and job.attempts == 0 and job.finished_at is None


def test_r_c2_claim_starts_from_clean_ownership_and_handle_is_stamped_only_on_spawn():
    """R-C2: a claim refuses unclean ownership; the handle appears only with Spawned."""
    dirty = attrs.evolve(new_job(), started_at=T0)
    assert "clean" in rejected(dirty, Claim("w1", "r", at(30))).reason
    job = claimed()
    assert job.run is not None and job.run.handle is None
    assert ok(job, Spawned(H)).job.run.handle == H
    assert "already stamped" in rejected(ok(job, Spawned(H)).job, Spawned(H)).reason


def test_r_c3_tier1_ignores_a_running_job_with_no_handle():
    """R-C3: no handle yet: dead observations never reap it; only the ceiling does."""
    job = claimed()
    dead = Observation(Liveness.DEAD)
    assert assess(job, dead, at(60), P, 99).reap is None
    assert "ceiling" in rejected(job, Reap(ReapReason.DEAD), at(60), P).reason
    assert assess(ok(job, Heartbeat("w1", at(30), 3600)).job, dead, at(3600), P).reap == Reap(
        ReapReason.CEILING
    )


def test_r_c5_spawn_failure_before_handle_requeues_and_is_claimable_at_once():
    """R-C5: the attempt is given back and the job can be claimed again immediately."""
    job = claimed(max_attempts=1)
    back = ok(job, SpawnFailed("exec format error"), at(3)).job
    assert back.status is Status.QUEUED and back.clean and back.attempts == 0
    assert back.available_at == at(3)
    ok(back, Claim("w2", "run-2", at(60)), at(3))


def _spawn_fails(job, now, policy):
    """Claim `job` at `now` and fail its spawn; the job as requeued (or failed)."""
    run = ok(job, Claim("w1", f"{job.id}/{job.version + 1}", now + timedelta(seconds=30)), now, policy).job
    return ok(run, SpawnFailed("no space left on device"), now, policy)


def test_r_c5_spawn_failures_in_a_row_back_off_then_fail_the_job_with_an_alert():
    """The first failed spawn is claimable at once (R-C5); the next ones wait, more each
    time, and never spend an attempt; at max_spawn_failures the job fails, loudly."""
    policy = Policy(max_spawn_failures=4, spawn_backoff=Backoff(base_s=2, cap_s=30, jitter=0))
    job, now, waits = new_job(max_attempts=1), T0, []
    for n in range(1, 4):
        d = _spawn_fails(job, now, policy)
        job = d.job
        assert job.status is Status.QUEUED and job.attempts == 0 and job.spawn_failures == n
        waits.append((job.available_at - now).total_seconds())
        now = job.available_at
    assert waits == [0, 2, 4]
    last = _spawn_fails(job, now, policy)
    assert last.job.status is Status.FAILED and last.job.spawn_failures == 4
    assert last.job.error == "spawn failed 4 times in a row: no space left on device"
    [alert] = [e for e in last.external if isinstance(e, Notify) and e.alert]
    assert "no space left on device" in alert.message


@pytest.mark.parametrize("after", ["stamp", "exit"])
def test_r_c5_a_spawn_that_worked_starts_the_count_again(after):
    policy = Policy(max_spawn_failures=2)
    job = _spawn_fails(new_job(max_attempts=3), T0, policy).job
    assert job.spawn_failures == 1
    run = ok(job, Claim("w1", "run-2", at(60)), T0, policy).job
    worked = (
        ok(run, Spawned(H), T0, policy).job if after == "stamp" else ok(run, Failed("bad"), T0, policy).job
    )
    assert worked.spawn_failures == 0
    if after == "exit":  # an in-process run has no stamp: its exit proves the spawn worked
        assert worked.status is Status.QUEUED


def test_r_c5_max_spawn_failures_below_one_is_refused():
    with pytest.raises(ValueError, match="max_spawn_failures must be >= 1"):
        Policy(max_spawn_failures=0)


def test_r_c5_spawn_failed_after_a_handle_is_refused():
    """R-C5: once a handle exists the spawn did happen; it cannot be undone as a failure."""
    assert "did happen" in rejected(spawned(), SpawnFailed("late")).reason


@pytest.mark.parametrize(
    "finish",
    [Finished("ok"), Failed("bad"), Reap(ReapReason.DEAD)],
    ids=["done", "failed", "reaped-failed"],
)
def test_r_c6_terminal_outcomes_keep_run_and_started_at_and_stamp_finished_at(finish):
    """R-C6: terminal states keep the run link and `started_at`, and stamp `finished_at`."""
    job = spawned(max_attempts=1)
    d = ok(job, finish, at(50), P)
    assert d.job.status.terminal
    assert d.job.run == job.run and d.job.started_at == job.started_at
    assert d.job.finished_at == at(50) and d.job.lease is None


def test_r_c8_transient_failure_requeues_without_spending_an_attempt():
    """R-C8: a transient failure has its own counter and backoff; attempts are untouched."""
    job = spawned(max_attempts=1)
    d = ok(job, Failed("rate limited", transient=True), at(5), P)
    assert d.job.status is Status.QUEUED
    assert d.job.attempts == 0 and d.job.transient_attempts == 1
    assert d.job.available_at - at(5) > timedelta(0)


def test_r_c8_transient_budget_spent_counts_as_a_real_failure():
    """R-C8: past `max_transient_attempts` a transient failure spends an attempt."""
    job = attrs.evolve(spawned(max_attempts=1), transient_attempts=P.max_transient_attempts)
    assert ok(job, Failed("still busy", transient=True), at(5), P).job.status is Status.FAILED


def test_r_c4_sanitize_heals_a_queued_job_with_a_phantom_run():
    """R-C4 (pure part): a queued job holding a run is healed to clean; a coherent one is left."""
    bad = attrs.evolve(new_job(), run=claimed().run, started_at=T0)
    assert violations(bad)
    healed = ok(bad, Sanitize(), at(1)).job
    assert healed.clean and violations(healed) == ()
    assert "nothing to heal" in rejected(healed, Sanitize()).reason


def test_r_g2_the_fence_holds_only_for_the_holder_of_the_same_run_and_epoch():
    """R-G2: adoption bumps the epoch, so the previous holder's token no longer fences."""
    from qrun.core import Fence

    job = spawned()
    token = Fence.of(job)
    assert job.fenced_by(token)
    adopted = ok(ok(job, Recover("w1"), at(1)).job, Adopt("w2", at(90)), at(2)).job
    assert not adopted.fenced_by(token)
    assert adopted.fenced_by(Fence.of(adopted))
    assert not ok(job, Finished(None), at(3)).job.fenced_by(token)
