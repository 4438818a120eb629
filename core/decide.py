"""The transition function: every change to a job is decided here.

Theory of operation
-------------------
A job is `queued` (waiting, perhaps until `available_at`), `running` (a run exists; its
lease is held by one worker, or cleared so that any worker may adopt it), or terminal:
`done`, `failed`, `cancelled`.

`decide(job, event, now, policy)` looks up `(job.status, type(event))` in `TABLE`. A
missing entry is a rejection; a present entry is a handler that checks the event's
guards (who holds the lease, whether a handle was stamped, whether an exit code is old
enough, ...) and returns either the next job with the effects to carry out, or a
rejection naming the job, its status, the event and why. `decide` never raises, never
reads a clock and never performs I/O: the time is an argument, effects are data.

Ownership is the thread running through the table. A queued job is always clean: no
run, no handle, no lease, no `started_at` (R-C1). Every path back to `queued` goes
through `_requeue`, which clears all four, so no phantom run can survive a retry. A
claim starts a run without a handle; the handle is stamped only by `Spawned` (R-C2), so
a run without a handle is never judged dead by observation (R-C3). Its worker may still
have died between starting the execution and stamping it, so an orphan without a handle
is adopted by its run id, never blindly re-run. Terminal states keep the
run and `started_at` and stamp `finished_at` (R-C6).

Attempts are spent at claim. Paths that did not really run the job give the attempt
back: a spawn that failed before a handle existed (R-C5) and a transient failure (R-C8),
which instead spends from its own counter. Every other failure requeues with backoff
while attempts remain and fails for good (with an alert) when they are spent.

Every decision bumps the job's version; a store writes it only if the stored version is
the one the decision was made from, so of two actors racing on one job exactly one wins
and the loser drops its effects (R-B6).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import attrs
from returns.result import Failure, Result, Success

from . import events as ev
from .decision import Decision, Rejection
from .effects import (
    AdoptRun,
    DeleteInputs,
    Effect,
    EndDependents,
    EnqueueJob,
    Kill,
    Notify,
    ReviveDependents,
    Spawn,
)
from .invariants import violations
from .job import DependencyFailure, Job, Lease, OrphanPolicy, Run, Status, json_problem
from .policy import Policy
from .timeline import recorded, step_to

Decided = Result[Decision, Rejection]
ENDS_DEPENDENTS = frozenset({Status.FAILED, Status.CANCELLED})
"""How a dependency ends that ends its waiting dependents (DependencyFailure.CANCEL)."""
Handler = Callable[[Job, Any, datetime, Policy], "_Draft"]
"""A handler returns what it decided, or refuses by raising `_Reject`."""


class _Reject(Exception):
    """Raised inside a handler to leave it early; `decide` turns it into a Rejection."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Draft:
    """What a handler decided, before the job is made: `decide` makes it once, with the
    event's step on its timeline (a second copy would cost a fifth of `decide`)."""

    __slots__ = ("changes", "effects", "job")

    def __init__(self, job: Job, effects: tuple[Effect, ...], changes: dict[str, Any]) -> None:
        self.job, self.effects, self.changes = job, effects, changes

    def decision(self, event: ev.Event, now: datetime) -> Decision:
        job, changes = self.job, self.changes
        if not isinstance(event, ev.Heartbeat):  # heartbeats would drown the rest
            status, attempts = changes.get("status", job.status), changes.get("attempts", job.attempts)
            changes["history"] = recorded(job.history, step_to(job, status, attempts, event, now))
        nxt = job.evolve(version=job.version + 1, **changes)
        was, now_ = job.__dict__, nxt.__dict__  # Job keeps its fields in a __dict__ (see Job.evolve)
        return Decision(nxt, self.effects, frozenset(name for name in changes if was[name] != now_[name]))


def _ok(job: Job, *effects: Effect, **changes: Any) -> _Draft:
    return _Draft(job, effects, changes)  # made whole, once, in `decide`


def _run(job: Job) -> Run:
    if job.run is None:  # only an impossible state gets here; Sanitize heals it
        raise _Reject("running job has no run record")
    return job.run


def _requeue(job: Job, now: datetime, delay: timedelta, *effects: Effect, **changes: Any) -> _Draft:
    """Back to `queued` with clean ownership (R-C1) and its pool slot given back (R-E3).
    Only a failed spawn keeps counting failed spawns in a row."""
    changes.setdefault("spawn_failures", 0)
    return _ok(
        job,
        *effects,
        status=Status.QUEUED,
        available_at=now + delay,
        run=None,
        lease=None,
        started_at=None,
        cancel_requested=False,
        pool_slot=None,
        ran_s=0.0,
        **changes,
    )


def _finalize(job: Job, status: Status, now: datetime, *effects: Effect, **changes: Any) -> _Draft:
    """A terminal state keeps the run and `started_at`, stamps `finished_at` (R-C6) and
    gives the pool slot back (R-E3). A job that ends failed or cancelled ends the jobs
    that wait for it, in the same write (`EndDependents`)."""
    if status in ENDS_DEPENDENTS:
        effects = (*effects, EndDependents(job.id, status, now))
    return _ok(
        job,
        *effects,
        status=status,
        finished_at=_after(job.started_at, now),
        lease=None,
        pool_slot=None,
        **changes,
    )


def _after(earlier: datetime | None, now: datetime) -> datetime:
    """`now`, or `earlier` if the wall clock was set back past it: a job's stamps never
    run backwards, whatever the clock did between two of them."""
    return now if earlier is None or now >= earlier else earlier


def _succeed(job: Job, now: datetime, result: Any, *, follow_up: bool) -> _Draft:
    effects: list[Effect] = [DeleteInputs(job.id), Notify(job.id, "done", f"job {job.id} done")]
    if follow_up and job.follow_up is not None:
        nxt = Job.new(
            id=f"{job.id}.next",
            kind=job.follow_up.kind,
            payload=job.follow_up.payload,
            queue=job.follow_up.queue,
            now=now,
        )
        effects.insert(0, EnqueueJob(nxt))
    return _finalize(job, Status.DONE, now, *effects, result=result, error=None)


def _fail_or_retry(job: Job, now: datetime, policy: Policy, error: str, *effects: Effect) -> _Draft:
    """Requeue with backoff while attempts remain; else `failed` with an alert."""
    if job.cancel_requested:
        return _finalize(job, Status.CANCELLED, now, *effects, DeleteInputs(job.id), error=error)
    if job.attempts < job.max_attempts:
        delay = (job.backoff or policy.backoff).delay(job.id, job.attempts)
        return _requeue(job, now, delay, *effects, error=error)
    alert = Notify(
        job.id, "failed", f"job {job.id} failed after {job.attempts} attempts: {error}", alert=True
    )
    return _finalize(job, Status.FAILED, now, *effects, alert, DeleteInputs(job.id), error=error)


def _kill(job: Job) -> tuple[Effect, ...]:
    run = job.run
    return (Kill(job.id, run.id, run.handle),) if run is not None and run.handle is not None else ()


# -- queued ----------------------------------------------------------------------------
def _claim(job: Job, e: ev.Claim, now: datetime, policy: Policy) -> _Draft:
    if job.available_at > now:
        raise _Reject(f"not available until {job.available_at.isoformat()}")
    if not job.clean:
        raise _Reject("ownership is not clean; sanitize first (R-C1)")
    if e.lease_until <= now:
        raise _Reject("lease would already be expired")
    if (job.pool is None) != (e.slot is None):
        raise _Reject(
            f"the job needs a slot of pool {job.pool!r}; a claim must take one (R-E3)"
            if job.pool is not None
            else "the job needs no pool slot, but the claim gives it one"
        )
    return _ok(
        job,
        Spawn(job.id, e.run_id),
        pool_slot=e.slot,
        status=Status.RUNNING,
        attempts=job.attempts + 1,
        lease=Lease(e.worker, e.lease_until),
        started_at=_after(job.requested_at, now),
        run=Run(e.run_id),
        ran_s=0.0,
    )


def _cancel_queued(job: Job, e: ev.Cancel, now: datetime, policy: Policy) -> _Draft:
    note = Notify(job.id, "cancelled", f"job {job.id} cancelled before it started")
    return _finalize(job, Status.CANCELLED, now, DeleteInputs(job.id), note)


# -- running ---------------------------------------------------------------------------
def _adopt(job: Job, e: ev.Adopt, now: datetime, policy: Policy) -> _Draft:
    run = _run(job)
    if job.lease is not None:
        raise _Reject(f"lease is held by {job.lease.worker}; only a cleared lease is adoptable")
    if e.lease_until <= now:
        raise _Reject("lease would already be expired")
    # Every orphan is adopted first, whatever its policy: its execution may still run, and
    # no other may start while it does. The adopter stops a live one whose policy is
    # retry or fail (`orphan_stop`), and the run ends as that policy says once it is dead.
    # Adopt, even without a handle: the worker may have died after its spawn started the
    # execution but before the handle was stamped (R-C2). The runner looks for the run by
    # its id; if it finds nothing, NothingToAdopt retries it, so it is never run twice.
    return _ok(
        job,
        AdoptRun(job.id, run.id, run.handle),
        lease=Lease(e.worker, e.lease_until),
        run=attrs.evolve(run, epoch=run.epoch + 1),
        adoptions=job.adoptions + 1,
    )


def _spawned(job: Job, e: ev.Spawned, now: datetime, policy: Policy) -> _Draft:
    run = _run(job)
    if run.handle is not None:
        raise _Reject(f"handle already stamped ({run.handle.runner}:{run.handle.ref})")
    return _ok(job, run=attrs.evolve(run, handle=e.handle), spawn_failures=0)


def _spawn_failed(job: Job, e: ev.SpawnFailed, now: datetime, policy: Policy) -> _Draft:
    if _run(job).handle is not None:
        raise _Reject("a handle was stamped, so the spawn did happen")
    if e.transient:
        # The runner is unavailable (R-C8): no attempt spent, but wait before the next
        # try; once transient tries are spent it counts as an ordinary failure.
        return _failed(job, ev.Failed(e.error, transient=True), now, policy)
    n = job.spawn_failures + 1
    if n >= policy.max_spawn_failures:
        # A spawn that keeps failing (a full disk, a missing binary) would loop for ever
        # without spending an attempt: it ends here, loudly.
        error = f"spawn failed {n} times in a row: {e.error}"
        alert = Notify(job.id, "failed", f"job {job.id} failed: {error}", alert=True)
        return _finalize(job, Status.FAILED, now, alert, DeleteInputs(job.id), spawn_failures=n, error=error)
    # Nothing ran: give the attempt back (R-C5); the first failure is claimable at once,
    # the next ones back off.
    delay = timedelta(0) if n == 1 else policy.spawn_backoff.delay(job.id, n - 1)
    return _requeue(job, now, delay, attempts=job.attempts - 1, spawn_failures=n, error=e.error)


def _heartbeat(job: Job, e: ev.Heartbeat, now: datetime, policy: Policy) -> _Draft:
    if not job.holds(e.worker):
        holder = job.lease.worker if job.lease else "nobody"
        raise _Reject(f"lease is held by {holder}, not {e.worker}")
    assert job.lease is not None
    return _ok(job, lease=Lease(e.worker, max(job.lease.until, e.lease_until)), ran_s=job.ran_s + e.ran_s)


def _lease_expired(job: Job, e: ev.LeaseExpired, now: datetime, policy: Policy) -> _Draft:
    if job.lease is None:
        raise _Reject("lease already cleared")
    if job.lease.until > now:
        raise _Reject(f"lease is valid until {job.lease.until.isoformat()}")
    return _ok(job, lease=None)


def _release(job: Job, e: ev.Release, now: datetime, policy: Policy) -> _Draft:
    if not job.holds(e.worker):
        raise _Reject(f"{e.worker} does not hold the lease")
    return _ok(job, lease=None)


def _recover(job: Job, e: ev.Recover, now: datetime, policy: Policy) -> _Draft:
    if not job.holds(e.previous_worker):
        raise _Reject(f"lease is not held by {e.previous_worker}")
    return _ok(job, lease=None)


def _exited(job: Job, e: ev.Exited, now: datetime, policy: Policy) -> _Draft:
    run = _run(job)
    if run.exit_code is not None:
        raise _Reject(f"exit code {run.exit_code} already recorded")
    return _ok(job, run=attrs.evolve(run, exit_code=e.code, exit_recorded_at=now))


def _finished(job: Job, e: ev.Finished, now: datetime, policy: Policy) -> _Draft:
    if problem := json_problem(e.result):
        raise _Reject(f"result must be plain JSON: {problem}")
    return _succeed(job, now, e.result, follow_up=True)


def _failed(job: Job, e: ev.Failed, now: datetime, policy: Policy) -> _Draft:
    if e.transient and not job.cancel_requested and job.transient_attempts < policy.max_transient_attempts:
        n = job.transient_attempts + 1
        return _requeue(
            job,
            now,
            policy.transient_backoff.delay(job.id, n),
            attempts=job.attempts - 1,  # R-C8: a transient failure spends no attempt
            transient_attempts=n,
            error=e.error,
        )
    if e.final and not job.cancel_requested:
        alert = Notify(job.id, "failed", f"job {job.id} failed: {e.error}", alert=True)
        return _finalize(job, Status.FAILED, now, alert, DeleteInputs(job.id), error=e.error)
    return _fail_or_retry(job, now, policy, e.error)


def _nothing_to_adopt(job: Job, e: ev.NothingToAdopt, now: datetime, policy: Policy) -> _Draft:
    if job.adoptions == 0:
        raise _Reject("the job was never adopted")
    if job.orphan_policy is OrphanPolicy.FAIL and not job.cancel_requested:
        return _failed(job, ev.Failed(orphan_stop(job), final=True), now, policy)
    return _fail_or_retry(job, now, policy, "nothing to adopt: the execution is gone")


def orphan_stop(job: Job) -> str:
    """Why the run of an orphan whose policy is retry or fail ended: the error its holder
    reports once the execution it found (and stopped) is dead, or found none (R-G4)."""
    if job.orphan_policy is OrphanPolicy.FAIL:
        return "worker lost; failed by orphan policy"
    return "worker lost; retried by orphan policy"


def _reap(job: Job, e: ev.Reap, now: datetime, policy: Policy) -> _Draft:
    run = _run(job)
    r = ev.ReapReason
    if e.reason is r.DEAD:
        if run.handle is None:
            raise _Reject("no handle yet: only the ceiling can reap it (R-C3)")
        return _fail_or_retry(job, now, policy, "reaped: process dead")
    if e.reason is r.CEILING:
        if run.exit_code is not None:
            raise _Reject("its exit is recorded: the run is over, and tier 2 finalizes it")
        if job.ran_s < policy.max_running_s:
            raise _Reject(f"seen running {job.ran_s:g} s, under the ceiling of {policy.max_running_s:g} s")
        return _fail_or_retry(job, now, policy, "reaped: running past the ceiling", *_kill(job))
    # Tier 2: the exit code must be recorded and older than the finalize grace (R-B5).
    if run.exit_code is None or run.exit_recorded_at is None:
        raise _Reject("no exit code recorded")
    if now - run.exit_recorded_at < timedelta(seconds=policy.finalize_grace_s):
        raise _Reject("still within the finalize grace")
    if (run.exit_code == 0) != (e.reason is not r.EXIT_FAILED):
        raise _Reject(f"verdict {e.reason.value} contradicts exit code {run.exit_code}")
    if e.reason is r.EXIT_OK:
        return _succeed(job, now, job.result, follow_up=True)
    if e.reason is r.EXIT_OK_ADVANCED:
        return _succeed(job, now, job.result, follow_up=False)
    if e.reason is r.EXIT_OK_GATE_RED:
        return _fail_or_retry(job, now, policy, "reaped: exit 0 but the success gate is red")
    return _fail_or_retry(job, now, policy, f"reaped: exit code {run.exit_code}")


def _cancel_running(job: Job, e: ev.Cancel, now: datetime, policy: Policy) -> _Draft:
    if job.cancel_requested:
        raise _Reject("cancel already requested")
    kill = _kill(job)
    if not kill:
        # Nothing started yet; a racing Spawned will lose its write and kill its process.
        return _finalize(job, Status.CANCELLED, now, DeleteInputs(job.id), error="cancelled")
    return _ok(job, *kill, cancel_requested=True)


# -- any status ------------------------------------------------------------------------
def _sanitize(job: Job, e: ev.Sanitize, now: datetime, policy: Policy) -> _Draft:
    found = violations(job)
    if not found:
        raise _Reject("nothing to heal")
    why = "; ".join(found)
    if job.status is Status.QUEUED and job.attempts >= job.max_attempts:
        return _finalize(job, Status.FAILED, now, run=None, started_at=None, error=f"healed: {why}")
    if job.status in (Status.QUEUED, Status.RUNNING):
        # A running job without a coherent run cannot be adopted: requeue it cleanly.
        attempts = min(job.attempts, job.max_attempts - 1)
        return _requeue(job, now, timedelta(0), attempts=attempts, error=f"healed: {why}")
    return _ok(job, finished_at=job.finished_at or now, lease=None, pool_slot=None)


def _retry(job: Job, e: ev.Retry, now: datetime, policy: Policy) -> _Draft:
    return _revive(job, now)


def _revive(job: Job, now: datetime) -> _Draft:
    """Queued again with fresh attempts; the jobs cancelled for this one come back too."""
    return _requeue(
        job,
        now,
        timedelta(0),
        ReviveDependents(job.id, now),
        attempts=0,
        transient_attempts=0,
        finished_at=None,
        error=None,
        result=None,
        cancelled_for=None,
    )


def _dependency_ended(job: Job, e: ev.DependencyEnded, now: datetime, policy: Policy) -> _Draft:
    if e.dependency not in job.depends_on:
        raise _Reject(f"it does not depend on {e.dependency}")
    if e.status not in ENDS_DEPENDENTS:
        raise _Reject(f"dependency {e.dependency} is {e.status.value}; only failed or cancelled ends it")
    if job.on_dependency_failure is DependencyFailure.WAIT:
        raise _Reject("it waits for a retry of its dependencies (on_dependency_failure=wait)")
    why = f"dependency {e.dependency} ended {e.status.value}"
    note = Notify(job.id, "cancelled", f"job {job.id} cancelled: {why}")
    return _finalize(
        job, Status.CANCELLED, now, DeleteInputs(job.id), note, error=why, cancelled_for=e.dependency
    )


def _dependency_retried(job: Job, e: ev.DependencyRetried, now: datetime, policy: Policy) -> _Draft:
    if job.cancelled_for != e.dependency:
        raise _Reject(f"it was not cancelled for dependency {e.dependency}")
    for dep, status in e.others:
        if dep in job.depends_on and dep != e.dependency and status in ENDS_DEPENDENTS:
            return _ok(job, cancelled_for=dep, error=f"dependency {dep} ended {status.value}")
    return _revive(job, now)


@attrs.frozen
class Rule:
    """How one status takes one event: the handler that decides, and every status it
    can lead to (the totality test holds each handler to it; the docs' diagram is drawn
    from it)."""

    handler: Handler
    to: frozenset[Status]


def _rule(handler: Handler, *to: Status) -> Rule:
    return Rule(handler, frozenset(to))


Q, R, D, F, C = Status.QUEUED, Status.RUNNING, Status.DONE, Status.FAILED, Status.CANCELLED

TABLE: dict[Status, dict[type, Rule]] = {
    Q: {
        ev.Claim: _rule(_claim, R),
        ev.Cancel: _rule(_cancel_queued, C),
        ev.DependencyEnded: _rule(_dependency_ended, C),
        ev.Sanitize: _rule(_sanitize, Q, F),
    },
    R: {
        ev.Adopt: _rule(_adopt, R),
        ev.Spawned: _rule(_spawned, R),
        ev.SpawnFailed: _rule(_spawn_failed, Q, F, C),
        ev.Heartbeat: _rule(_heartbeat, R),
        ev.LeaseExpired: _rule(_lease_expired, R),
        ev.Release: _rule(_release, R),
        ev.Recover: _rule(_recover, R),
        ev.Exited: _rule(_exited, R),
        ev.Finished: _rule(_finished, D),
        ev.Failed: _rule(_failed, Q, F, C),
        ev.NothingToAdopt: _rule(_nothing_to_adopt, Q, F, C),
        ev.Reap: _rule(_reap, D, Q, F, C),
        ev.Cancel: _rule(_cancel_running, R, C),
        ev.Sanitize: _rule(_sanitize, Q),
    },
    D: {ev.Sanitize: _rule(_sanitize, D)},
    F: {ev.Retry: _rule(_retry, Q), ev.Sanitize: _rule(_sanitize, F)},
    C: {
        ev.Retry: _rule(_retry, Q),
        ev.DependencyRetried: _rule(_dependency_retried, Q, C),
        ev.Sanitize: _rule(_sanitize, C),
    },
}
"""`{status: {event type: Rule}}`: the one place a transition is allowed, and where it leads."""
del Q, R, D, F, C


def _applies_to(event: type) -> str:
    """Which statuses take `event`, for a refusal that says what is possible."""
    takers = [status.value for status in Status if event in TABLE.get(status, {})]
    if not takers:
        return "applies to no job"
    listed = takers[0] if len(takers) == 1 else ", ".join(takers[:-1]) + " or " + takers[-1]
    return f"applies only to {listed} jobs"


def decide(job: Job, event: ev.Event, now: datetime, policy: Policy = Policy()) -> Decided:
    """The next state of `job` after `event` at `now`, or why the event does not apply."""
    name = type(event).__name__
    rule = TABLE.get(job.status, {}).get(type(event))
    if rule is None:
        reason = f"no transition from {job.status.value}; {name} {_applies_to(type(event))}"
        return Failure(Rejection(job.id, job.status, name, reason))
    try:
        return Success(rule.handler(job, event, now, policy).decision(event, now))
    except _Reject as stop:
        return Failure(Rejection(job.id, job.status, name, stop.reason))
    except (ValueError, TypeError, OverflowError) as bad:
        # A validator refused the next state (e.g. a date out of range): reject, do not raise.
        return Failure(Rejection(job.id, job.status, name, f"invalid next state: {bad}"))
