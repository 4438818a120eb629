"""`qrun doctor`: what is wrong with a queue, as findings a person can act on."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import attrs

from qrun.core import Job, Status, violations
from qrun.core.ports import Examinable, JobStore

from .runtime.paging import all_jobs

PAGE = 1000


@attrs.frozen
class Finding:
    job_id: str
    problem: str
    fix: str


def examine(store: JobStore, now: datetime) -> list[Finding]:
    found: list[Finding] = []
    for job in _candidates(store, now):
        for problem in violations(job):
            found.append(
                Finding(job.id, f"impossible state: {problem}", "the sanitizer of `qrun serve` heals it")
            )
        if job.status is Status.RUNNING and job.lease is not None and job.lease.until < now:
            found.append(
                Finding(
                    job.id,
                    f"lease of {job.lease.worker} expired at {job.lease.until.isoformat()}",
                    "start `qrun serve`: its reaper frees the job and a worker adopts it",
                )
            )
        for dep in job.depends_on if job.status is Status.QUEUED else ():
            parent = store.get(dep)
            if parent is None or parent.status in (Status.FAILED, Status.CANCELLED):
                state = "is missing" if parent is None else f"ended {parent.status.value}"
                found.append(
                    Finding(
                        job.id,
                        f"waits for {dep}, which {state}",
                        f"`qrun retry {dep}` or `qrun cancel {job.id}`",
                    )
                )
    return found


def _candidates(store: JobStore, now: datetime) -> Iterator[Job]:
    """The open jobs to judge: those the database picks out, page by page, where the
    store can (`Examinable`); else every queued and running job."""
    if not isinstance(store, Examinable):
        for status in (Status.QUEUED, Status.RUNNING):
            yield from all_jobs(store, status)
        return
    after = None
    while page := store.suspects(now, PAGE, after):
        yield from page
        after = page[-1].id
