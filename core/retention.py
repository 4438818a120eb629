"""Retention (R-F3): which finished jobs may be pruned, decided purely.

A job is prunable when it finished longer ago than its status's retention, and no job
that remains depends on it (pruning a dependency would leave its dependents waiting for
a job that no longer exists). Open jobs are never prunable.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from .job import Job, Status


def cutoff(keep: Mapping[Status, timedelta], status: Status, now: datetime) -> datetime | None:
    """Jobs of `status` that finished before this are past retention (None: keep forever)."""
    if not status.terminal or status not in keep:
        return None
    return now - keep[status]


def expired(job: Job, keep: Mapping[Status, timedelta], now: datetime) -> bool:
    limit = cutoff(keep, job.status, now)
    return limit is not None and job.finished_at is not None and job.finished_at < limit
