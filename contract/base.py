"""The fixture a store's test class provides, and helpers the contract tests share."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from qrun.core import Claim, ClaimRequest, Decision, Event, Finished, Handle, Job, Policy, Spawned
from qrun.core.ports import Applied, JobStore

from .builders import T0, at, new_job, ok

MakeStore = Callable[[], JobStore]
POLICY = Policy(dead_ticks=2, finalize_grace_s=30, max_running_s=600)
#: A runner handle for a run that no test really starts.
H = Handle("subprocess", "4242:99")


class StoreFixtures:
    """Subclass and override `make_store` to return a factory of fresh, empty stores."""

    #: Examples for the stateful comparison with the memory store; lower it for slow stores.
    state_machine_examples: int = 60
    #: Threads in the race tests.
    race_threads: int = 8

    @pytest.fixture
    def make_store(self) -> Iterator[MakeStore]:
        raise NotImplementedError(
            "override the make_store fixture: yield a callable that returns a fresh, empty store"
        )

    @pytest.fixture
    def store(self, make_store: MakeStore) -> JobStore:
        return make_store()


def lease(now: datetime = T0, seconds: float = 30) -> datetime:
    return now + timedelta(seconds=seconds)


def claim_one(store: JobStore, worker: str = "w1", now: datetime = T0, **kw: Any) -> Decision:
    got = store.claim(ClaimRequest(worker, limit=1, now=now, lease_until=lease(now), policy=POLICY, **kw))
    assert len(got) == 1, f"expected one claimed job, got {len(got)}"
    return got[0]


def stored(store: JobStore, job_id: str) -> Job:
    """The stored job `job_id`, which must exist."""
    job = store.get(job_id)
    assert job is not None, f"job {job_id} is not in the store"
    return job


def step(store: JobStore, job: Job, event: Event, now: datetime = T0) -> Job:
    """Decide `event` on the stored `job` and apply it, expecting both to succeed."""
    result = store.apply(ok(job, event, now, POLICY))
    assert isinstance(result, Applied), f"apply of {event} conflicted: {result}"
    return result.job


def claimed_elsewhere(job: Job | None = None) -> Job:
    """A running job as `decide` would make it, never stored anywhere."""
    job = job or new_job()
    return ok(job, Claim("w1", f"{job.id}/x", lease()), T0).job


def finish(store: JobStore, now_s: float = 1) -> str:
    """Claim, spawn and finish the next job at `at(now_s)`; returns its id."""
    job = claim_one(store, now=at(now_s)).job
    job = step(store, job, Spawned(H), at(now_s))
    step(store, job, Finished("worker"), at(now_s))
    return job.id
