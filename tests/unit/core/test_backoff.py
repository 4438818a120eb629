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
