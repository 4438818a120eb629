"""What a store refuses, and why: every one a `StoreError` (a `QrunError`)."""

from __future__ import annotations

from .errors import QrunError
from .job import Job


class StoreError(QrunError):
    """A store could not do what was asked; the message says what and how to fix it."""


class StoreUnreachable(StoreError):
    """The database cannot be reached (down, a wrong address, a missing database, refused
    credentials); the message names it, without its password, and why."""


class SchemaVersionError(StoreError):
    """The stored schema is not the version this code knows."""


class UnknownDependency(StoreError):
    """A submitted job depends on a job that does not exist."""


class DuplicateJob(StoreError):
    """A submitted job id exists already."""


class BatchNotFinished(StoreError):
    """A batch cannot be cleared while some of its jobs are open or needed by others."""


class NameTaken(StoreError):
    """A live daemon holds the name another one asked for (R-G1)."""


class UniqueConflict(StoreError):
    """A write would make a second job hold a unique key (a retry of a job whose key
    another job took meanwhile)."""


def unique_conflict_message(job: Job, holder: str) -> str:
    key = job.unique.key if job.unique else "?"
    return (
        f"job {job.id} cannot become {job.status.value}: its unique key {key!r} is held by job "
        f"{holder}; cancel or finish {holder} first, or submit a new job without the key"
    )


class DuplicateEvent(StoreError):
    """A published event id exists already."""
