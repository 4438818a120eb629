"""Hypothesis strategies for jobs and events."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import attrs
from hypothesis import strategies as st
from returns.result import Success

from qrun.core import (
    Adopt,
    Cancel,
    Claim,
    Decision,
    DependencyEnded,
    DependencyFailure,
    DependencyRetried,
    Event,
    Exited,
    Failed,
    Finished,
    FollowUp,
    Handle,
    Heartbeat,
    Job,
    LeaseExpired,
    NothingToAdopt,
    OrphanPolicy,
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
    decide,
)

from .builders import T0

WORKERS = ("w1", "w2", "w3")
workers = st.sampled_from(WORKERS)
offsets = st.integers(min_value=0, max_value=3600).map(lambda s: timedelta(seconds=s))
times = offsets.map(lambda d: T0 + d)
DEPS = ("dep1", "dep2")
statuses = st.sampled_from(list(Status))
run_ids = st.uuids().map(lambda u: u.hex)
handles = st.builds(
    Handle,
    runner=st.sampled_from(["subprocess", "docker"]),
    ref=st.text(st.characters(exclude_characters="\x00"), min_size=1, max_size=8),
)


@st.composite
def new_jobs(draw: st.DrawFn) -> Job:
    return Job.new(
        id=draw(st.text(alphabet="abcdef0123456789", min_size=4, max_size=12)),
        kind=draw(st.sampled_from(["shell", "py", "docker"])),
        now=T0,
        priority=draw(st.integers(-5, 5)),
        max_attempts=draw(st.integers(1, 5)),
        available_at=T0 + draw(offsets) if draw(st.booleans()) else None,
        concurrency_key=draw(st.none() | st.sampled_from(["k1", "k2"])),
        follow_up=draw(st.none() | st.just(FollowUp("next"))),
        orphan_policy=draw(st.sampled_from(list(OrphanPolicy))),
        pool=draw(st.none() | st.just("wt")),
        depends_on=draw(st.sampled_from([(), DEPS[:1], DEPS])),
        on_dependency_failure=draw(st.sampled_from(list(DependencyFailure))),
    )


def _event_strategies() -> dict[type, st.SearchStrategy[Event]]:
    lease = times.map(lambda t: t + timedelta(seconds=60))
    found: dict[type, st.SearchStrategy[Event]] = {
        Claim: st.builds(
            Claim, worker=workers, run_id=run_ids, lease_until=lease, slot=st.none() | st.integers(0, 2)
        ),
        Adopt: st.builds(Adopt, worker=workers, lease_until=lease),
        Spawned: st.builds(Spawned, handle=handles),
        SpawnFailed: st.builds(SpawnFailed, error=st.just("spawn failed")),
        Heartbeat: st.builds(Heartbeat, worker=workers, lease_until=lease),
        LeaseExpired: st.just(LeaseExpired()),
        Release: st.builds(Release, worker=workers),
        Recover: st.builds(Recover, previous_worker=workers),
        Exited: st.builds(Exited, code=st.integers(0, 3)),
        Finished: st.builds(Finished, result=st.none() | st.integers()),
        Failed: st.builds(Failed, error=st.just("boom"), transient=st.booleans(), final=st.booleans()),
        NothingToAdopt: st.just(NothingToAdopt()),
        Reap: st.builds(Reap, reason=st.sampled_from(list(ReapReason))),
        Cancel: st.just(Cancel()),
        Sanitize: st.just(Sanitize()),
        Retry: st.just(Retry()),
        DependencyEnded: st.builds(DependencyEnded, dependency=st.sampled_from(DEPS), status=statuses),
        DependencyRetried: st.builds(
            DependencyRetried,
            dependency=st.sampled_from(DEPS),
            others=st.lists(st.tuples(st.sampled_from(DEPS), statuses), max_size=2).map(tuple),
        ),
    }
    return found


EVENTS_BY_TYPE = _event_strategies()


def events_of(event_type: type) -> st.SearchStrategy[Event]:
    return EVENTS_BY_TYPE[event_type]


def events() -> st.SearchStrategy[Event]:
    return st.one_of(*EVENTS_BY_TYPE.values())


def at_now(event: Event, now: datetime, lease_s: int) -> Event:
    """`event` with its lease (if it has one) ending `lease_s` after `now`."""
    if isinstance(event, Claim | Adopt | Heartbeat):
        return attrs.evolve(event, lease_until=now + timedelta(seconds=lease_s))
    return event


def next_event(draw: Callable[[st.SearchStrategy[Any]], Any], job: Job, now: datetime) -> Event:
    """Mostly an event the job's status accepts, sometimes any event, so random walks
    reach deep states and still probe the rejections."""
    from qrun.core import TABLE

    accepted = sorted(TABLE[job.status], key=lambda t: t.__name__)
    kinds = accepted if accepted and draw(st.integers(0, 9)) < 8 else list(EVENTS_BY_TYPE)
    event = draw(events_of(draw(st.sampled_from(kinds))))
    return at_now(event, now, draw(st.integers(1, 300)))


gaps = st.integers(0, 60) | st.integers(0, 4000)
"""Seconds between two steps: mostly short, sometimes past every timeout."""


@attrs.frozen
class Move:
    """One event of a random walk that `decide` accepted: the job it was decided on, the
    event, its time and the decision."""

    before: Job
    event: Event
    now: datetime
    decision: Decision


def walk(
    draw: Callable[[st.SearchStrategy[Any]], Any], job: Job, length: int, policy: Policy
) -> Iterator[Move]:
    """`length` events from `job` at growing times (`gaps` apart, `next_event`), each
    judged by `decide`; yields the accepted ones, the job moving on with each."""
    now = job.requested_at
    for _ in range(length):
        now += timedelta(seconds=draw(gaps))
        event = next_event(draw, job, now)
        result = decide(job, event, now, policy)
        if isinstance(result, Success):
            move = Move(job, event, now, result.unwrap())
            yield move
            job = move.decision.job
