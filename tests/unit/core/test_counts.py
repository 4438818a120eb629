"""Every count `decide` keeps, after every transition, from any starting value (large ones
too): attempts, transient attempts, spawn failures, adoptions, the run's epoch, the
version and the time seen running. The expected values are written here from the rules
(README "How it works"), not read back from `decide`."""

from datetime import timedelta

import attrs
from hypothesis import given, settings
from hypothesis import strategies as st

from qrun.contract.strategies import new_jobs, walk
from qrun.core import (
    Adopt,
    Claim,
    DependencyRetried,
    Failed,
    Heartbeat,
    Job,
    NothingToAdopt,
    Policy,
    Release,
    Retry,
    Sanitize,
    Spawned,
    SpawnFailed,
    Status,
    decide,
)

POLICY = Policy(dead_ticks=2, finalize_grace_s=30, max_running_s=600, max_spawn_failures=4)
BIG = st.integers(0, 2**40)


@st.composite
def counted_jobs(draw):
    """A fresh job whose counters start anywhere, large values included."""
    job = draw(new_jobs())
    top = draw(st.sampled_from([job.max_attempts, 2**31]))
    attempts = draw(st.integers(0, top - 1))
    return attrs.evolve(
        job,
        max_attempts=top,
        attempts=attempts,
        transient_attempts=draw(st.integers(0, POLICY.max_transient_attempts)),
        adoptions=draw(BIG),
        spawn_failures=draw(st.integers(0, POLICY.max_spawn_failures - 1)),
        version=draw(st.integers(1, 2**40)),
        pool=None,  # a claim of a pool job takes a slot; the walks cover pools
    )


def expected(job: Job, event, nxt: Job) -> dict[str, object]:
    """What the counts must be after `event` moved `job` to `nxt` (whose status says
    which way the rules went)."""
    want = counts(job)
    back = nxt.status is Status.QUEUED and job.status is Status.RUNNING
    if back:
        want.update(epoch=None, ran_s=0.0, spawn_failures=0)
    match event:
        case Claim():
            want.update(attempts=job.attempts + 1, epoch=1, ran_s=0.0)
        case Adopt():
            want.update(adoptions=job.adoptions + 1, epoch=job.run.epoch + 1)
        case Heartbeat(ran_s=seen):
            want.update(ran_s=job.ran_s + seen)
        case Spawned():
            want.update(spawn_failures=0)
        case SpawnFailed(transient=False):
            want.update(spawn_failures=job.spawn_failures + 1)
            if back:
                want.update(attempts=job.attempts - 1)  # nothing ran: the attempt is given back
        case SpawnFailed(transient=True) | Failed(transient=True) if back and nxt.transient_attempts:
            if nxt.transient_attempts == job.transient_attempts + 1:
                want.update(attempts=job.attempts - 1, transient_attempts=job.transient_attempts + 1)
        case Retry() | DependencyRetried() if nxt.status is Status.QUEUED:  # a revival is a retry
            want.update(attempts=0, transient_attempts=0, spawn_failures=0, epoch=None, ran_s=0.0)
        case Sanitize() if nxt.status is Status.QUEUED:
            want.update(attempts=min(job.attempts, job.max_attempts - 1), epoch=None, ran_s=0.0)
        case NothingToAdopt():
            pass
    if nxt.status in (Status.DONE, Status.FAILED, Status.CANCELLED) and job.status is Status.RUNNING:
        want["epoch"] = job.run.epoch if job.run else None  # the run is kept (R-C6)
    return want


def counts(job: Job) -> dict[str, object]:
    return {
        "attempts": job.attempts,
        "transient_attempts": job.transient_attempts,
        "adoptions": job.adoptions,
        "spawn_failures": job.spawn_failures,
        "epoch": job.run.epoch if job.run else None,
        "ran_s": job.ran_s,
    }


@settings(max_examples=300, deadline=None)
@given(job=counted_jobs(), data=st.data(), length=st.integers(1, 30))
def test_every_count_moves_exactly_as_the_rules_say(job, data, length):
    for move in walk(data.draw, job, length, POLICY):
        job, event, nxt = move.before, move.event, move.decision.job
        assert nxt.version == job.version + 1, event
        want = expected(job, event, nxt)
        if isinstance(event, SpawnFailed | Failed) and event.transient and nxt.status is Status.QUEUED:
            # a transient failure either spends from its own counter, or (spent) counts as
            # an ordinary failure: exactly one of the two
            spent = nxt.transient_attempts == job.transient_attempts + 1
            assert spent or job.transient_attempts >= POLICY.max_transient_attempts
            if not spent:
                want.update(attempts=job.attempts, transient_attempts=job.transient_attempts)
        assert counts(nxt) == want, f"{event}: {counts(job)} -> {counts(nxt)}, want {want}"


@settings(max_examples=200, deadline=None)
@given(job=counted_jobs(), lease_s=st.integers(1, 10**6))
def test_a_claim_adds_exactly_one_attempt_from_any_count(job, lease_s):
    until = job.available_at + timedelta(seconds=lease_s)
    nxt = decide(job, Claim("w", "r", until), job.available_at, POLICY).unwrap().job
    assert nxt.attempts == job.attempts + 1 and nxt.run.epoch == 1 and nxt.adoptions == job.adoptions


@settings(max_examples=200, deadline=None)
@given(job=counted_jobs())
def test_a_transient_failure_gives_exactly_one_attempt_back(job):
    job = attrs.evolve(job, transient_attempts=0)
    running = decide(job, Claim("w", "r", job.available_at + timedelta(seconds=60)), job.available_at, POLICY)
    claimed = running.unwrap().job
    back = decide(claimed, Failed("busy", transient=True), job.available_at, POLICY).unwrap().job
    assert (back.attempts, back.transient_attempts) == (job.attempts, 1)
    assert back.status is Status.QUEUED and back.clean


@settings(max_examples=200, deadline=None)
@given(job=counted_jobs(), adoptions=st.integers(1, 5))
def test_every_adoption_adds_one_to_adoptions_and_to_the_epoch(job, adoptions):
    now = job.available_at
    held = decide(job, Claim("w0", "r", now + timedelta(days=1)), now, POLICY).unwrap().job
    for i in range(adoptions):
        orphan = decide(held, Release(held.lease.worker), now, POLICY).unwrap().job
        held = decide(orphan, Adopt(f"w{i + 1}", now + timedelta(days=1)), now, POLICY).unwrap().job
    assert held.adoptions == job.adoptions + adoptions and held.run.epoch == 1 + adoptions
    assert held.attempts == job.attempts + 1  # adopting runs the same attempt on
