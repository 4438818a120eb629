"""What the end of a dependency does to the jobs that wait for it, decided purely.

A job runs once all its dependencies are done (`core.claim`). When one ends failed or
cancelled, `decide` emits `EndDependents`; the store, in the same transaction as that
write, reads the queued jobs that depend on it and writes what `ended` decides for them:
each ends `cancelled`, saying which dependency, unless it waits for a retry
(`DependencyFailure.WAIT`). Their own ends emit `EndDependents` in turn, so the store
goes round by round down the chain (`adapters.dependents.settle`). A retry emits
`ReviveDependents`, and `revived` queues again the jobs that were cancelled for the
retried one, unless another of their dependencies also ended badly; a job retried by hand
while one of its own dependencies is still failed ends cancelled again (`still_blocked`).

A job submitted after a dependency that has already ended so is born cancelled
(`at_submit`), so no job waits for a dependency that cannot finish.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

from returns.result import Success

from .decide import ENDS_DEPENDENTS, decide
from .decision import Decision
from .effects import EndDependents, ReviveDependents
from .events import DependencyEnded, DependencyRetried
from .job import DependencyFailure, Job, Status

StatusOf = Callable[[str], Status | None]


def _accepted(job: Job, event: DependencyEnded | DependencyRetried, at: datetime) -> Decision | None:
    """`decide`'s decision, or None where the event does not apply (a job that waits)."""
    result = decide(job, event, at)
    return result.unwrap() if isinstance(result, Success) else None


def _ended_badly(job: Job, status_of: StatusOf) -> DependencyEnded | None:
    """The end of `job`'s first dependency that ended failed or cancelled, if one did."""
    for dep in job.depends_on:
        status = status_of(dep)
        if status is not None and status in ENDS_DEPENDENTS:
            return DependencyEnded(dep, status)
    return None


def pending(decisions: Iterable[Decision]) -> tuple[dict[str, EndDependents], dict[str, ReviveDependents]]:
    """The dependencies whose end or revival `decisions` announce, by job id."""
    ends: dict[str, EndDependents] = {}
    revives: dict[str, ReviveDependents] = {}
    for d in decisions:
        for effect in d.effects:
            if isinstance(effect, EndDependents):
                ends[effect.job_id] = effect
            elif isinstance(effect, ReviveDependents):
                revives[effect.job_id] = effect
    return ends, revives


def ended(dependents: Iterable[Job], ends: Mapping[str, EndDependents]) -> list[Decision]:
    """What the ends in `ends` do to `dependents` (the queued jobs depending on them)."""
    out: list[Decision] = []
    for job in dependents:
        dep = next((d for d in job.depends_on if d in ends), None)
        if dep is None:
            continue
        end = ends[dep]
        if d := _accepted(job, DependencyEnded(dep, end.status), end.at):
            out.append(d)
    return out


def revived(
    cancelled: Iterable[Job], revives: Mapping[str, ReviveDependents], status_of: StatusOf
) -> list[Decision]:
    """What the retries in `revives` do to `cancelled` (the jobs cancelled for them);
    `status_of` gives the status of each one's other dependencies."""
    out: list[Decision] = []
    for job in cancelled:
        revive = revives.get(job.cancelled_for or "")
        if revive is None:
            continue
        others = tuple(
            (dep, status)
            for dep in job.depends_on
            if dep != revive.job_id and (status := status_of(dep)) in ENDS_DEPENDENTS and status is not None
        )
        if d := _accepted(job, DependencyRetried(revive.job_id, others), revive.at):
            out.append(d)
    return out


def still_blocked(
    queued: Iterable[Job], revives: Mapping[str, ReviveDependents], status_of: StatusOf
) -> list[Decision]:
    """Jobs just queued again (`revives`: retried by hand) that depend on one that ended
    failed or cancelled: each ends cancelled for it at once, as a new one would, rather
    than wait for a run that cannot come."""
    out: list[Decision] = []
    for job in queued:
        revive = revives.get(job.id)
        if revive is None or job.status is not Status.QUEUED:
            continue
        end = _ended_badly(job, status_of)
        if end is not None and (d := _accepted(job, end, revive.at)):
            out.append(d)
    return out


def at_submit(fresh: Sequence[Job], status_of: StatusOf) -> list[Job]:
    """`fresh` (the jobs a submit inserts) with those that depend on a stored job that
    ended failed or cancelled, or on a job of the batch that is born so, born cancelled
    as `DependencyEnded` leaves them (at their submit time, on their timeline).
    `status_of` answers for stored jobs only."""
    out = list(fresh)
    if not any(job.depends_on for job in out):
        return out
    mine = {job.id: i for i, job in enumerate(out)}
    changed = True
    while changed:  # a batch's own chain ends in as many passes as it is long
        changed = False
        for i, job in enumerate(out):
            if job.status is not Status.QUEUED or job.on_dependency_failure is DependencyFailure.WAIT:
                continue
            end = _ended_badly(job, lambda dep: out[mine[dep]].status if dep in mine else status_of(dep))
            if end is not None and (d := _accepted(job, end, job.requested_at)):
                out[i] = d.job
                changed = True
    return out
