"""What `decide` returns: the job's next state and the effects, or a typed rejection."""

from __future__ import annotations

import attrs

from .effects import DurableEffect, Effect, ExternalEffect, is_durable
from .job import Job, Status


@attrs.frozen
class Decision:
    """`job` is the next state (its version already bumped); a store writes it only if
    the stored version is still `expected_version` (compare-and-set, R-B6)."""

    job: Job
    effects: tuple[Effect, ...] = ()
    #: The Job fields this decision changed (besides `version`), so a store may write
    #: only those; None means "any of them" (write the whole job).
    changed: frozenset[str] | None = None

    @property
    def expected_version(self) -> int:
        return self.job.version - 1

    @property
    def durable(self) -> tuple[DurableEffect, ...]:
        return tuple(e for e in self.effects if is_durable(e))  # type: ignore[misc]

    @property
    def external(self) -> tuple[ExternalEffect, ...]:
        return tuple(e for e in self.effects if not is_durable(e))  # type: ignore[misc]


@attrs.frozen
class Rejection:
    """An event that does not apply to the job as it is (R-A2). Expected in a concurrent
    system (a heartbeat after the lease was lost, a reap of a finished job), so it is
    data, not an exception; the job is left exactly as it was."""

    job_id: str
    status: Status
    event: str
    reason: str

    def __str__(self) -> str:
        return f"job {self.job_id} ({self.status.value}) rejects {self.event}: {self.reason}"
