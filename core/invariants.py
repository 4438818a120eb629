"""What must hold for a job in every status. `violations` names each broken rule; an
empty tuple means the job is coherent. The sanitizer heals what this finds (R-C4)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from .job import Job, Status


def violations(job: Job) -> tuple[str, ...]:
    found: list[str] = []
    if job.attempts > job.max_attempts:
        found.append(f"attempts {job.attempts} exceed max_attempts {job.max_attempts}")
    if job.started_at is not None and job.started_at < job.requested_at:
        found.append("started before it was requested")
    if job.finished_at is not None and job.started_at is not None and job.finished_at < job.started_at:
        found.append("finished before it started")
    if job.status is Status.QUEUED:
        # R-C1: queued means clean ownership.
        if job.run is not None:
            found.append("queued with a run id")
        if job.lease is not None:
            found.append("queued with a lease")
        if job.started_at is not None:
            found.append("queued with started_at")
        if job.finished_at is not None:
            found.append("queued with finished_at")
        if job.cancel_requested:
            found.append("queued with a cancel request")
        if job.attempts >= job.max_attempts:
            found.append("queued with no attempts left")
        if job.pool_slot is not None:
            found.append("queued holding a pool slot")
    elif job.status is Status.RUNNING:
        if job.run is None:
            found.append("running without a run")
        elif job.run.exit_recorded_at is not None and job.run.exit_code is None:
            found.append("exit time recorded without an exit code")
        if job.started_at is None:
            found.append("running without started_at")
        if job.finished_at is not None:
            found.append("running with finished_at")
        if job.attempts < 1:
            found.append("running with no attempt spent")
        if (job.pool is None) != (job.pool_slot is None):
            found.append("running without its pool slot" if job.pool else "running with a slot of no pool")
    else:
        # R-C6: terminal keeps the run and started_at, stamps finished_at.
        if job.finished_at is None:
            found.append(f"{job.status.value} without finished_at")
        if job.lease is not None:
            found.append(f"{job.status.value} with a lease")
        if job.pool_slot is not None:
            found.append(f"{job.status.value} holding a pool slot")
        if job.status is Status.DONE and (job.run is None or job.started_at is None):
            found.append("done without a run")
    return tuple(found)


def holds(job: Job) -> bool:
    return not violations(job)


def needs_care(job: Job, now: datetime, status_of: Callable[[str], Status | None]) -> bool:
    """What `qrun doctor` reports of an open job: an impossible state, a lease that ended
    before `now` (its reaper is not running), or, queued, a dependency that failed, was
    cancelled or does not exist (`status_of` gives None for a missing job)."""
    if job.status.terminal:
        return False
    if violations(job):
        return True
    if job.status is Status.RUNNING:
        return job.lease is not None and job.lease.until < now
    return any(status_of(dep) in (None, Status.FAILED, Status.CANCELLED) for dep in job.depends_on)
