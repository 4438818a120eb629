"""Every stored job of one status, a page at a time (the JobStore port pages by id), and
the open jobs that may need care, read the same way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from qrun.core import Job, Status
from qrun.core.ports import Examinable, JobFilter, JobStore


def all_jobs(store: JobStore, status: Status, page_size: int = 500) -> Iterator[Job]:
    after = None
    while page := store.list(JobFilter(status=status, limit=page_size, after=after)):
        yield from page
        after = page[-1].id


def open_suspects(store: JobStore, now: datetime, page_size: int = 1000) -> Iterator[Job]:
    """The open jobs that may need care: those the database picks out, page by page,
    where the store can (`Examinable.suspects`); else every queued and running job."""
    if not isinstance(store, Examinable):
        for status in (Status.QUEUED, Status.RUNNING):
            yield from all_jobs(store, status)
        return
    after = None
    while page := store.suspects(now, page_size, after):
        yield from page
        after = page[-1].id
