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


def new_job(**kw: Any) -> Job:
    kw.setdefault("id", f"job-{next(_ids):06d}")
    kw.setdefault("kind", "test")
    kw.setdefault("now", T0)
    return Job.new(**kw)


def ok(job: Job, event: Event, now: datetime = T0, policy: Policy = Policy()) -> Decision:
    """`decide`, expecting Success."""
    result = decide(job, event, now, policy)
    match result:
        case Success(decision):
            return decision  # type: ignore[no-any-return]
        case Failure(rejection):
            raise AssertionError(f"expected success, got rejection: {rejection}")
    raise AssertionError("unreachable")


def rejected(job: Job, event: Event, now: datetime = T0, policy: Policy = Policy()) -> Rejection:
    """`decide`, expecting Failure."""
    result = decide(job, event, now, policy)
    match result:
        case Failure(rejection):
            return rejection  # type: ignore[no-any-return]
        case Success(decision):
            raise AssertionError(f"expected a rejection, got {decision}")
    raise AssertionError("unreachable")
