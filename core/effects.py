"""What `decide` asks for, as data.

Durable effects are written by the store in the same transaction as the job's winning
write, so they happen exactly once by construction. External effects are carried out by
the runtime after the commit, only by the caller whose write won (R-B6); each is keyed
by job and run id, so carrying one out twice is harmless.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import attrs

from .job import Handle, Job, Status


# -- durable ---------------------------------------------------------------------------
@attrs.frozen
class EnqueueJob:
    """Insert `job` (a follow-up stage, R-B4) in the same transaction."""

    job: Job


@attrs.frozen
class EndDependents:
    """`job_id` ended `status` (failed or cancelled) at `at`: each queued job depending on
    it is judged (`DependencyEnded`) in the same transaction, and theirs in turn."""

    job_id: str
    status: Status
    at: datetime


@attrs.frozen
class ReviveDependents:
    """`job_id` was queued again at `at`: each job cancelled for it is judged
    (`DependencyRetried`) in the same transaction, and theirs in turn."""

    job_id: str
    at: datetime


DurableEffect = EnqueueJob | EndDependents | ReviveDependents


# -- external --------------------------------------------------------------------------
@attrs.frozen
class Spawn:
    """Start run `run_id` of the job with its runner."""

    job_id: str
    run_id: str


@attrs.frozen
class AdoptRun:
    """Ask the runner to take over the live execution of `run_id` (R-A6)."""

    job_id: str
    run_id: str
    handle: Handle | None


@attrs.frozen
class Kill:
    """Stop the execution of `run_id`."""

    job_id: str
    run_id: str
    handle: Handle | None


@attrs.frozen
class Notify:
    """Tell a human or a system; `alert` marks failures that need attention."""

    job_id: str
    topic: str
    message: str
    alert: bool = False
    detail: Any = None


@attrs.frozen
class DeleteInputs:
    """The run is over for good: its stored inputs can go (R-A6)."""

    job_id: str


ExternalEffect = Spawn | AdoptRun | Kill | Notify | DeleteInputs
Effect = DurableEffect | ExternalEffect
DURABLE_TYPES: tuple[type, ...] = (EnqueueJob, EndDependents, ReviveDependents)


def is_durable(effect: Effect) -> bool:
    return isinstance(effect, DURABLE_TYPES)
