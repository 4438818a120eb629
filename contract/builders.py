"""Small helpers to make jobs and times in tests, for qrun's suites and third parties'."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from returns.result import Failure, Success

from qrun.core import Decision, Event, Job, Policy, Rejection, decide

T0 = datetime(2030, 1, 1, tzinfo=UTC)
_ids = itertools.count(1)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def built(*parts: str) -> str:
    """A string made at run time, never the interned literal the test wrote."""
    return "".join(list(parts))


def new_job(**kw: Any) -> Job:
    kw.setdefault("id", f"job-{next(_ids):06d}")
    kw.setdefault("kind", "test")
    kw.setdefault("now", T0)
    return Job.new(**kw)


def ok(job: Job, event: Event, now: datetime = T0, policy: Policy = Policy()) -> Decision:
    """`decide`, expecting Success."""
    result = decide(job, event, now, policy)
    if isinstance(result, Failure):
        raise AssertionError(f"expected success, got rejection: {result.failure()}")
    return result.unwrap()


def rejected(job: Job, event: Event, now: datetime = T0, policy: Policy = Policy()) -> Rejection:
    """`decide`, expecting Failure."""
    result = decide(job, event, now, policy)
    if isinstance(result, Success):
        raise AssertionError(f"expected a rejection, got {result.unwrap()}")
    return result.failure()
