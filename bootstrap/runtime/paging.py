"""Every stored job of one status, a page at a time (the JobStore port pages by id)."""

from __future__ import annotations

from collections.abc import Iterator

from qrun.core import Job, Status
from qrun.core.ports import JobFilter, JobStore


def all_jobs(store: JobStore, status: Status, page_size: int = 500) -> Iterator[Job]:
    after = None
    while page := store.list(JobFilter(status=status, limit=page_size, after=after)):
        yield from page
        after = page[-1].id
