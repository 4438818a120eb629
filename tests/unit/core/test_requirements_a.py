"""Section A of REQUIREMENTS.md, as far as `decide` decides it."""

from datetime import timedelta

import attrs
import pytest

from qrun.contract.builders import T0, at, new_job, ok, rejected
from qrun.core import (
    Adopt,
    AdoptRun,
    Claim,
    DeleteInputs,
    Failed,
    Finished,
    Handle,
    NothingToAdopt,
    Notify,
    Policy,
    Spawn,
    Spawned,
    Status,
    decide,
)
from qrun.core.job import OrphanPolicy

H = Handle("subprocess", "123:456")


def claimed(job=None, now=T0, worker="w1"):
    job = job or new_job()
    return ok(job, Claim(worker, "run-1", now + timedelta(seconds=30)), now).job


def adopted(job):
    lease_cleared = attrs.evolve(job, lease=None)
    return ok(lease_cleared, Adopt("w2", at(100)), at(50)).job


def test_r_a2_invalid_move_is_a_typed_rejection_naming_job_status_event():
    """R-A2: finishing a queued job is refused with a rejection that says what and why."""
    job = new_job()
    r = rejected(job, Finished("x"))
    assert (r.job_id, r.status, r.event) == (job.id, Status.QUEUED, "Finished")
    assert job.id in str(r) and "queued" in str(r) and "Finished" in str(r)


def test_r_a2_enqueue_start_finish_requeue_are_pure():
    """R-A2: the same inputs give the same decision, and the input job is untouched."""
    job = new_job()
    before = attrs.evolve(job)
    first = decide(job, Claim("w1", "r", at(30)), T0)
    second = decide(job, Claim("w1", "r", at(30)), T0)
    assert first == second and job == before


def test_r_a3_claim_makes_running_with_lease_start_stamp_and_attempt():
    """R-A3: claiming sets running, lease, started_at, attempts+1, in one decision."""
    job = new_job()
    d = ok(job, Claim("w1", "run-1", at(30)), at(5))
    j = d.job
    assert j.status is Status.RUNNING
    assert (j.lease.worker, j.lease.until) == ("w1", at(30))
    assert j.started_at == at(5) and j.attempts == 1
    assert j.version == job.version + 1
    assert d.effects == (Spawn(job.id, "run-1"),)


def test_r_a3_claim_refuses_job_not_yet_available():
    """R-A3: a delayed job cannot be claimed before `available_at`."""
    job = new_job(available_at=at(60))
    assert "not available" in rejected(job, Claim("w1", "r", at(90)), at(10)).reason
    ok(job, Claim("w1", "r", at(90)), at(60))


def test_r_a3_adopt_takes_a_cleared_lease_and_bumps_epoch():
    """R-A3/R-G2: adopting a running job with a cleared lease keeps the run, bumps the epoch."""
    job = ok(claimed(), Spawned(H)).job
    cleared = attrs.evolve(job, lease=None)
    d = ok(cleared, Adopt("w2", at(100)), at(50))
    assert d.job.lease.worker == "w2" and d.job.run.id == job.run.id
    assert d.job.run.epoch == job.run.epoch + 1 and d.job.adoptions == 1
    assert d.effects == (AdoptRun(job.id, job.run.id, H),)


def test_r_a3_adopt_refuses_a_held_lease():
    """R-A3: a running job whose lease is held is not adoptable."""
    assert "held by w1" in rejected(claimed(), Adopt("w2", at(100)), at(10)).reason


def test_r_a6_nothing_to_adopt_with_attempts_left_requeues_without_finalize():
    """R-A6: nothing to adopt and attempts left: queued with backoff, no finalize."""
    job = adopted(ok(claimed(new_job(max_attempts=3)), Spawned(H)).job)
    d = ok(job, NothingToAdopt(), at(60))
    assert d.job.status is Status.QUEUED and d.job.available_at > at(60)
    assert d.job.finished_at is None
    assert not any(isinstance(e, DeleteInputs) for e in d.effects)


def test_r_a6_nothing_to_adopt_with_attempts_spent_finalizes_failed():
    """R-A6: nothing to adopt and attempts spent: failed, finalized, alert."""
    job = adopted(ok(claimed(new_job(max_attempts=1)), Spawned(H)).job)
    d = ok(job, NothingToAdopt(), at(60))
    assert d.job.status is Status.FAILED and d.job.finished_at == at(60)
    assert any(isinstance(e, Notify) and e.alert for e in d.effects)


def test_r_a6_success_finalizes_and_deletes_inputs():
    """R-A6: a normal run that succeeds is finalized and its inputs deleted."""
    d = ok(ok(claimed(), Spawned(H)).job, Finished({"ok": 1}), at(20))
    assert d.job.status is Status.DONE and d.job.result == {"ok": 1}
    assert DeleteInputs(d.job.id) in d.effects


@pytest.mark.parametrize("policy", list(OrphanPolicy))
def test_r_g4_every_orphan_is_adopted_first_whatever_its_policy(policy):
    """R-A6/R-G4: an orphan's execution may still run, so it is adopted (and, under retry
    or fail, stopped by its adopter) before anything else can start: never requeued
    while it may live."""
    job = ok(claimed(new_job(orphan_policy=policy)), Spawned(H)).job
    d = ok(attrs.evolve(job, lease=None), Adopt("w2", at(100)), at(50))
    assert d.job.status is Status.RUNNING and d.job.holds("w2") and d.job.run.epoch == 2
    assert d.effects == (AdoptRun(job.id, job.run.id, H),)


@pytest.mark.parametrize(
    ("policy", "status"),
    [
        (OrphanPolicy.ADOPT, Status.QUEUED),
        (OrphanPolicy.RETRY, Status.QUEUED),
        (OrphanPolicy.FAIL, Status.FAILED),
    ],
)
def test_r_g4_an_orphan_with_nothing_to_adopt_ends_as_its_policy_says(policy, status):
    job = ok(claimed(new_job(orphan_policy=policy)), Spawned(H)).job
    adopted = ok(attrs.evolve(job, lease=None), Adopt("w2", at(100)), at(50)).job
    d = ok(adopted, NothingToAdopt(), at(51))
    assert d.job.status is status
    if status is Status.FAILED:
        assert d.job.error == "worker lost; failed by orphan policy"
        assert any(isinstance(e, Notify) and e.alert for e in d.effects)


def test_r_a9_requested_at_at_submit_started_at_only_on_start():
    """R-A9: `requested_at` is stamped at submit; `started_at` stays empty until a start."""
    job = new_job(now=at(7))
    assert job.requested_at == at(7) and job.started_at is None
    assert claimed(job, now=at(9)).started_at == at(9)


def test_policy_defaults_are_valid():
    assert Policy().dead_ticks == 2 and Policy().finalize_grace_s == 300


def test_a_payload_that_is_not_json_is_refused_with_where_it_breaks():
    """Bad input: the error says which part of the payload is not JSON."""
    import pytest

    with pytest.raises(ValueError, match=r"payload must be plain JSON: \$\.files\[1\] is a bytes"):
        new_job(payload={"files": ["a", b"raw"]})
    with pytest.raises(ValueError, match="non-string key"):
        new_job(payload={1: "x"})


def test_a_result_that_is_not_json_is_a_rejection_not_a_crash():
    """A task returning something a store cannot hold is refused as data, not raised."""
    job = ok(claimed(), Spawned(H)).job
    r = rejected(job, Finished(object()))
    assert "result must be plain JSON" in r.reason


def test_text_no_store_can_hold_is_refused_where_it_enters_or_spelled_out_in_errors():
    """PostgreSQL text and jsonb refuse NUL; every store must hold every job the core makes."""
    import pytest

    from qrun.core import Failed, Handle, SpawnFailed
    from qrun.core.job import json_problem

    with pytest.raises(ValueError, match="NUL character"):
        Handle("subprocess", "1\x002")
    assert json_problem({"a": ["x\x00"]}) == "$.a[0] contains a NUL character, which no store can hold"
    assert json_problem({"k\x00": 1}) is not None
    assert Failed("bad\x00bytes").error == "bad\\x00bytes"
    assert SpawnFailed("\x00").error == "\\x00"


def test_r_a6_an_orphan_without_a_handle_is_still_offered_to_its_runner_by_run_id():
    """R-A6/R-C2: its worker may have died between starting the execution and stamping
    the handle; re-running it blindly could run it twice."""
    job = attrs.evolve(claimed(), lease=None)
    d = ok(job, Adopt("w2", at(100)), at(50))
    assert d.job.status is Status.RUNNING and d.job.adoptions == 1
    assert AdoptRun(job.id, job.run.id, None) in d.effects


def test_a_final_failure_ends_the_job_failed_with_attempts_left():
    d = ok(ok(claimed(new_job(max_attempts=5)), Spawned(H)).job, Failed("session failed", final=True), at(20))
    assert d.job.status is Status.FAILED and d.job.attempts == 1 and d.job.pool_slot is None
    assert any(isinstance(e, Notify) and e.alert for e in d.effects)
