"""Retry backoff: exponential, capped, jitter deterministic from job and attempt."""

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from qrun.core import Backoff, Policy


@given(job_id=st.text(min_size=1), n=st.integers(1, 200))
def test_delay_is_deterministic_and_within_bounds(job_id, n):
    b = Backoff(base_s=2, factor=3, cap_s=120, jitter=0.2)
    d = b.delay(job_id, n)
    assert d == b.delay(job_id, n)
    raw = min(120, 2 * 3 ** (n - 1))
    assert timedelta(seconds=raw * 0.8) <= d <= timedelta(seconds=raw)


def test_delay_grows_exponentially_until_the_cap():
    b = Backoff(base_s=1, factor=2, cap_s=10, jitter=0)
    assert [b.delay("j", n).total_seconds() for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


def test_jitter_spreads_jobs_that_failed_together():
    b = Backoff(base_s=10, jitter=0.5)
    assert len({b.delay(f"job-{i}", 1) for i in range(20)}) > 10


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"base_s": -1}, "base_s must be >= 0"),
        ({"factor": 0}, "factor must be > 0"),
        ({"jitter": 1.0}, "jitter must be in [0, 1)"),
    ],
)
def test_bad_backoff_settings_say_what_is_wrong(kwargs, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace(")", r"\)")):
        Backoff(**kwargs)


def test_bad_policy_settings_say_what_is_wrong():
    with pytest.raises(ValueError, match="dead_ticks must be >= 1"):
        Policy(dead_ticks=0)


@given(
    base_s=st.floats(0, 1e6),
    attempts=st.integers(1, 9),
    own=st.booleans(),
)
def test_a_job_with_its_own_backoff_retries_after_it_and_others_after_the_policy(base_s, attempts, own):
    """A task's `backoff=` replaces the policy's for its jobs' retries, and only theirs."""
    from qrun.contract.builders import new_job, ok
    from qrun.core import Claim, Failed, Handle, Spawned, Status
    from qrun.core.claim import run_id_for

    mine = Backoff(base_s=base_s, factor=1, cap_s=1e6, jitter=0)
    policy = Policy(backoff=Backoff(base_s=7, factor=1, jitter=0))
    job = new_job(max_attempts=10, backoff=mine if own else None)
    for _ in range(attempts):
        job = ok(
            job, Claim("w", run_id_for(job), job.available_at + timedelta(seconds=30)), job.available_at
        ).job
        job = ok(job, Spawned(Handle("subprocess", "1:1")), job.available_at).job
        failed_at = job.available_at
        job = ok(job, Failed("boom"), failed_at, policy).job
        assert job.status is Status.QUEUED and job.backoff == (mine if own else None)
        assert job.available_at - failed_at == timedelta(seconds=base_s if own else 7)


@pytest.mark.parametrize(
    ("backoff", "message"),
    [
        (Backoff(cap_s=1e300), "backoff cap_s must be from 0 to"),
        (Backoff(base_s=float("inf")), "backoff base_s must be from 0 to"),
        (Backoff(factor=1e9), "backoff factor must be from 0 to 1000"),
        ({"base_s": 1}, "backoff must be a Backoff"),
    ],
)
def test_a_jobs_own_backoff_out_of_range_is_refused_at_submit(backoff, message):
    from qrun.contract.builders import T0
    from qrun.core import Job

    with pytest.raises(ValueError, match=message):
        Job.new(id="j", kind="k", now=T0, backoff=backoff)
