"""`qrun doctor`: what is wrong with a queue, as findings a person can act on."""

from __future__ import annotations

from datetime import datetime

import attrs

from qrun.core import Status, violations
from qrun.core.ports import JobStore

from .runtime.paging import open_suspects

PAGE = 1000


@attrs.frozen
class Finding:
    job_id: str
    problem: str
    fix: str


def examine(store: JobStore, now: datetime) -> list[Finding]:
    found: list[Finding] = []
    for job in open_suspects(store, now, PAGE):
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
