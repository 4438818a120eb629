"""Both sides of every guard in `decide.TABLE`, at the boundary and past it: each accepted
event one step inside a limit, each refused one on it or beyond."""

from datetime import timedelta

import attrs
import pytest

from qrun.contract.builders import T0, at, new_job, ok, rejected
from qrun.core import (
    Adopt,
    Cancel,
    Claim,
    Exited,
    Failed,
    Finished,
    Handle,
    Heartbeat,
    Kill,
    LeaseExpired,
    NothingToAdopt,
    Notify,
    Policy,
    Reap,
    ReapReason,
    Recover,
    Release,
    Retry,
    Sanitize,
    Spawned,
    SpawnFailed,
    Status,
)

H = Handle("subprocess", "1:2")
P = Policy(
    dead_ticks=2, finalize_grace_s=60, max_running_s=600, max_spawn_failures=3, max_transient_attempts=2
)
TICK = timedelta(microseconds=1)


def claimed(job=None, now=T0, until=None):
    return ok(job or new_job(), Claim("w1", "run-1", until or at(30)), now, P).job


def spawned(**kw):
    return ok(claimed(new_job(**kw)), Spawned(H), T0, P).job


def orphan(**kw):
    return attrs.evolve(spawned(**kw), lease=None)


def exited(code, **kw):
    return ok(spawned(**kw), Exited(code), at(10), P).job


# -- Claim ------------------------------------------------------------------------------
def test_claim_is_accepted_from_the_instant_the_job_is_available_and_not_before():
    job = new_job(available_at=at(5))
    assert ok(job, Claim("w1", "r", at(40)), at(5), P).job.started_at == at(5)
    assert "not available until" in rejected(job, Claim("w1", "r", at(40)), at(5) - TICK, P).reason


def test_claim_needs_a_lease_that_ends_after_now():
    job = new_job()
    assert ok(job, Claim("w1", "r", T0 + TICK), T0, P).job.lease.until == T0 + TICK
    for until in (T0, T0 - TICK):
        assert "already be expired" in rejected(job, Claim("w1", "r", until), T0, P).reason


def test_claim_needs_clean_ownership():
    dirty = attrs.evolve(new_job(), started_at=T0)
    assert "not clean" in rejected(dirty, Claim("w1", "r", at(30)), T0, P).reason


def test_claim_takes_a_pool_slot_exactly_when_the_job_needs_one():
    pooled, plain = new_job(pool="wt"), new_job()
    assert ok(pooled, Claim("w1", "r", at(30), slot=0), T0, P).job.pool_slot == 0
    assert "must take one" in rejected(pooled, Claim("w1", "r", at(30)), T0, P).reason
    assert "needs no pool slot" in rejected(plain, Claim("w1", "r", at(30), slot=0), T0, P).reason


# -- Adopt ------------------------------------------------------------------------------
def test_adopt_needs_a_cleared_lease_and_a_future_deadline():
    job = orphan()
    assert ok(job, Adopt("w2", at(20) + TICK), at(20), P).job.holds("w2")
    for until in (at(20), at(19)):
        assert "already be expired" in rejected(job, Adopt("w2", until), at(20), P).reason
    assert "held by w1" in rejected(spawned(), Adopt("w2", at(40)), at(20), P).reason


# -- Spawned, SpawnFailed ---------------------------------------------------------------
def test_a_handle_is_stamped_once():
    assert ok(claimed(), Spawned(H), T0, P).job.run.handle == H
    assert "already stamped" in rejected(spawned(), Spawned(H), T0, P).reason


def test_spawn_failures_requeue_until_the_last_allowed_one_fails_the_job():
    job = claimed()
    for n in range(1, P.max_spawn_failures):
        back = ok(job, SpawnFailed("disk full"), at(n), P).job
        assert (back.status, back.spawn_failures, back.attempts) == (Status.QUEUED, n, 0)
        job = claimed(back, now=back.available_at, until=back.available_at + timedelta(seconds=30))
    d = ok(job, SpawnFailed("disk full"), at(99), P)
    assert (d.job.status, d.job.spawn_failures) == (Status.FAILED, P.max_spawn_failures)
    assert any(isinstance(e, Notify) and e.alert for e in d.effects)


def test_the_first_spawn_failure_is_claimable_at_once_the_next_ones_back_off():
    first = ok(claimed(), SpawnFailed("x"), at(3), P).job
    assert first.available_at == at(3)
    again = claimed(first, now=at(3), until=at(40))
    second = ok(again, SpawnFailed("x"), at(4), P).job
    assert second.available_at > at(4)


def test_spawn_failed_is_refused_once_a_handle_exists():
    assert "spawn did happen" in rejected(spawned(), SpawnFailed("x"), T0, P).reason


def test_a_transient_spawn_failure_spends_no_attempt_and_no_spawn_failure():
    back = ok(claimed(), SpawnFailed("engine down", transient=True), at(1), P).job
    assert (back.attempts, back.transient_attempts, back.spawn_failures) == (0, 1, 0)


# -- Heartbeat, LeaseExpired, Release, Recover ------------------------------------------
def test_a_heartbeat_only_from_the_holder_and_never_shortens_the_lease():
    job = spawned()
    assert ok(job, Heartbeat("w1", at(31)), at(1), P).job.lease.until == at(31)
    assert ok(job, Heartbeat("w1", at(29)), at(1), P).job.lease.until == at(30)
    assert "held by w1, not w2" in rejected(job, Heartbeat("w2", at(40)), at(1), P).reason
    assert "nobody" in rejected(orphan(), Heartbeat("w1", at(40)), at(1), P).reason


def test_a_lease_expires_at_its_deadline_not_before():
    job = spawned()  # lease until at(30)
    assert ok(job, LeaseExpired(), at(30), P).job.lease is None
    assert ok(job, LeaseExpired(), at(31), P).job.lease is None
    assert "valid until" in rejected(job, LeaseExpired(), at(30) - TICK, P).reason
    assert "already cleared" in rejected(orphan(), LeaseExpired(), at(31), P).reason


@pytest.mark.parametrize("make", [Release, Recover])
def test_release_and_recover_clear_only_the_named_holders_lease(make):
    assert ok(spawned(), make("w1"), T0, P).job.lease is None
    assert "w2" in rejected(spawned(), make("w2"), T0, P).reason
    assert rejected(orphan(), make("w1"), T0, P)


# -- Exited, Finished, Failed -----------------------------------------------------------
def test_an_exit_is_recorded_once():
    job = exited(3)
    assert (job.run.exit_code, job.run.exit_recorded_at) == (3, at(10))
    assert "already recorded" in rejected(job, Exited(0), at(11), P).reason


def test_a_finished_run_is_done_with_its_result_and_a_result_that_is_not_json_is_refused():
    assert ok(spawned(), Finished({"n": 1}), at(1), P).job.result == {"n": 1}
    assert "plain JSON" in rejected(spawned(), Finished({1: "x"}), at(1), P).reason


def test_failures_requeue_while_attempts_remain_and_fail_on_the_last():
    job = spawned(max_attempts=2)
    back = ok(job, Failed("boom"), at(1), P).job
    assert back.status is Status.QUEUED and back.attempts == 1
    last = claimed(back, now=back.available_at, until=back.available_at + timedelta(seconds=30))
    d = ok(last, Failed("boom"), back.available_at, P)
    assert d.job.status is Status.FAILED and d.job.attempts == 2
    assert any(isinstance(e, Notify) and e.alert for e in d.effects)


def test_transient_failures_spend_their_own_budget_then_count_as_failures():
    job = spawned(max_attempts=5)
    for n in range(1, P.max_transient_attempts + 1):
        back = ok(job, Failed("busy", transient=True), at(n), P).job
        assert (back.status, back.transient_attempts, back.attempts) == (Status.QUEUED, n, 0)
        job = ok(claimed(back, now=back.available_at, until=back.available_at + timedelta(seconds=30)),
                 Spawned(H), back.available_at, P).job  # fmt: skip
    spent = ok(job, Failed("busy", transient=True), at(99), P).job
    assert (spent.transient_attempts, spent.attempts) == (P.max_transient_attempts, 1)


def test_a_transient_failure_of_a_job_being_cancelled_ends_it_cancelled():
    job = ok(spawned(), Cancel(), at(1), P).job
    assert ok(job, Failed("busy", transient=True), at(2), P).job.status is Status.CANCELLED


def test_a_final_failure_fails_at_once_unless_a_cancel_was_asked():
    assert ok(spawned(max_attempts=3), Failed("x", final=True), at(1), P).job.status is Status.FAILED
    asked = ok(spawned(), Cancel(), at(1), P).job
    assert ok(asked, Failed("x", final=True), at(2), P).job.status is Status.CANCELLED


# -- NothingToAdopt ---------------------------------------------------------------------
def test_nothing_to_adopt_only_for_a_job_that_was_adopted():
    adopted = ok(orphan(), Adopt("w2", at(60)), at(20), P).job
    assert ok(adopted, NothingToAdopt(), at(21), P).job.status is Status.QUEUED
    assert "never adopted" in rejected(spawned(), NothingToAdopt(), at(21), P).reason


# -- Reap -------------------------------------------------------------------------------
def test_a_dead_reap_needs_a_handle():
    assert ok(spawned(), Reap(ReapReason.DEAD), at(1), P).job.status is Status.QUEUED
    assert "no handle" in rejected(claimed(), Reap(ReapReason.DEAD), at(1), P).reason


def test_the_ceiling_reaps_at_the_ceiling_of_time_seen_running_not_below():
    job = spawned()
    at_ceiling = ok(job, Heartbeat("w1", at(30), P.max_running_s), at(1), P).job
    below = ok(job, Heartbeat("w1", at(30), P.max_running_s - 0.001), at(1), P).job
    d = ok(at_ceiling, Reap(ReapReason.CEILING), at(2), P)
    assert d.job.status is Status.QUEUED and Kill(job.id, "run-1", H) in d.effects
    assert "under the ceiling" in rejected(below, Reap(ReapReason.CEILING), at(2), P).reason


@pytest.mark.parametrize(
    ("code", "reason", "status"),
    [
        (0, ReapReason.EXIT_OK, Status.DONE),
        (0, ReapReason.EXIT_OK_ADVANCED, Status.DONE),
        (0, ReapReason.EXIT_OK_GATE_RED, Status.QUEUED),
        (3, ReapReason.EXIT_FAILED, Status.QUEUED),
        (-15, ReapReason.EXIT_FAILED, Status.QUEUED),  # killed by a signal
    ],
)
def test_tier_2_acts_from_the_end_of_the_grace_and_only_on_its_own_verdict(code, reason, status):
    job = exited(code)  # recorded at(10); grace 60 s
    assert ok(job, Reap(reason), at(70), P).job.status is status
    assert "within the finalize grace" in rejected(job, Reap(reason), at(70) - TICK, P).reason
    wrong = ReapReason.EXIT_FAILED if code == 0 else ReapReason.EXIT_OK
    assert "contradicts" in rejected(job, Reap(wrong), at(70), P).reason
    assert "no exit code" in rejected(spawned(), Reap(reason), at(70), P).reason


def test_only_exit_ok_enqueues_the_follow_up():
    from qrun.core import EnqueueJob, FollowUp

    def follow_ups(reason):
        job = exited(0, follow_up=FollowUp("next"))
        return [e for e in ok(job, Reap(reason), at(70), P).effects if isinstance(e, EnqueueJob)]

    assert len(follow_ups(ReapReason.EXIT_OK)) == 1
    assert follow_ups(ReapReason.EXIT_OK_ADVANCED) == [] and follow_ups(ReapReason.EXIT_OK_GATE_RED) == []


# -- Cancel -----------------------------------------------------------------------------
def test_cancel_of_a_run_with_a_handle_asks_once_and_kills():
    d = ok(spawned(), Cancel(), at(1), P)
    assert d.job.status is Status.RUNNING and d.job.cancel_requested
    assert Kill(d.job.id, "run-1", H) in d.effects
    assert "already requested" in rejected(d.job, Cancel(), at(2), P).reason


def test_cancel_of_a_run_without_a_handle_ends_it_at_once():
    d = ok(claimed(), Cancel(), at(1), P)
    assert d.job.status is Status.CANCELLED and not any(isinstance(e, Kill) for e in d.effects)


def test_a_run_asked_to_cancel_ends_cancelled_whatever_its_exit():
    asked = ok(spawned(), Cancel(), at(1), P).job
    assert ok(asked, Failed("killed"), at(2), P).job.status is Status.CANCELLED
    assert ok(asked, Finished(), at(2), P).job.status is Status.DONE  # it finished first


# -- Sanitize, Retry --------------------------------------------------------------------
def test_sanitize_heals_only_what_is_broken():
    assert "nothing to heal" in rejected(new_job(), Sanitize(), T0, P).reason
    spent = attrs.evolve(new_job(max_attempts=2), attempts=2)
    assert ok(spent, Sanitize(), T0, P).job.status is Status.FAILED
    one_left = attrs.evolve(new_job(max_attempts=2), attempts=1, started_at=T0)
    healed = ok(one_left, Sanitize(), T0, P).job
    assert healed.status is Status.QUEUED and healed.attempts == 1 and healed.clean
    runless = attrs.evolve(spawned(max_attempts=4), run=None, attempts=4)
    assert ok(runless, Sanitize(), T0, P).job.attempts == 3


def test_retry_resets_both_counters_and_every_trace_of_the_last_run():
    failed = ok(attrs.evolve(spawned(), transient_attempts=2, attempts=3), Failed("x"), at(1), P).job
    assert failed.status is Status.FAILED
    back = ok(failed, Retry(), at(2), P).job
    assert (back.attempts, back.transient_attempts, back.error, back.result, back.finished_at) == (
        0,
        0,
        None,
        None,
        None,
    )
    assert back.clean and back.available_at == at(2)
    assert "no transition from queued" in rejected(back, Retry(), at(3), P).reason


def test_a_transient_failure_past_a_lowered_budget_is_an_ordinary_failure():
    """The budget was lowered while the job had spent more of it than it now allows."""
    job = attrs.evolve(spawned(max_attempts=3), transient_attempts=P.max_transient_attempts + 3)
    back = ok(job, Failed("busy", transient=True), at(1), P).job
    assert back.transient_attempts == job.transient_attempts and back.attempts == 1


def test_a_clock_set_back_never_stamps_a_start_before_the_request_or_an_end_before_the_start():
    job = attrs.evolve(new_job(now=at(100)), available_at=at(10))  # requeued after the clock went back
    started = ok(job, Claim("w1", "r", at(200)), at(40), P).job
    assert started.started_at == at(100)
    ended = ok(ok(started, Spawned(H), at(41), P).job, Finished(), at(42), P).job
    assert ended.finished_at == at(100)
    on_time = ok(new_job(now=at(5)), Claim("w1", "r", at(60)), at(7), P).job
    assert on_time.started_at == at(7)


def test_a_finished_run_enqueues_its_follow_up_exactly_once():
    from qrun.core import EnqueueJob, FollowUp

    d = ok(spawned(follow_up=FollowUp("next", {"n": 1})), Finished({"r": 1}), at(1), P)
    (enqueued,) = [e for e in d.effects if isinstance(e, EnqueueJob)]
    assert enqueued.job.kind == "next" and enqueued.job.payload == {"n": 1}


def test_a_failure_of_a_job_past_its_attempts_ends_it_instead_of_requeueing_it():
    """An impossible state (more attempts spent than allowed) must not be requeued, which
    would leave a queued job that can never run; it fails, and the sanitizer sees it."""
    job = attrs.evolve(spawned(max_attempts=2), attempts=3)
    assert ok(job, Failed("boom"), at(1), P).job.status is Status.FAILED


def test_a_heartbeat_that_moves_nothing_names_no_changed_field_but_its_lease():
    job = spawned()
    same = ok(job, Heartbeat("w1", job.lease.until), at(1), P)
    assert same.changed == frozenset()
    longer = ok(job, Heartbeat("w1", at(40), 2.0), at(1), P)
    assert longer.changed == {"lease", "ran_s"}


def test_spawn_failures_past_a_lowered_maximum_fail_the_job():
    job = attrs.evolve(claimed(), spawn_failures=P.max_spawn_failures + 2)
    assert ok(job, SpawnFailed("disk full"), at(1), P).job.status is Status.FAILED


def test_sanitize_fails_a_queued_job_with_more_attempts_spent_than_allowed():
    job = attrs.evolve(new_job(max_attempts=2), attempts=3)
    assert ok(job, Sanitize(), T0, P).job.status is Status.FAILED


@pytest.mark.parametrize(
    ("code", "reason", "error"),
    [
        (0, ReapReason.EXIT_OK_GATE_RED, "reaped: exit 0 but the success gate is red"),
        (3, ReapReason.EXIT_FAILED, "reaped: exit code 3"),
    ],
)
def test_each_tier_2_verdict_says_why_the_job_is_requeued(code, reason, error):
    assert ok(exited(code), Reap(reason), at(70), P).job.error == error


def test_an_event_whose_next_state_would_be_impossible_is_a_rejection_not_an_exception():
    """A running job with no attempt spent (an impossible state, before the sanitizer saw
    it) whose spawn failed would give back an attempt it never took: -1 attempts."""
    job = attrs.evolve(claimed(), attempts=0)
    assert "invalid next state" in rejected(job, SpawnFailed("x"), at(1), P).reason
