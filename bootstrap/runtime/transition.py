"""Apply one event to a stored job: read, decide, compare-and-set, and on a conflict
read again and decide again (the event may still apply to the newer version)."""

from __future__ import annotations

import attrs
from qrun.core import Decision, Event, Fence, Policy, Rejection, decide
from qrun.core.ports import Applied, Clock, JobStore
from returns.result import Success


@attrs.frozen
class Outcome:
    decision: Decision | None  # the decision that was written, if one was
    rejection: Rejection | None = None


def transition(
    store: JobStore,
    job_id: str,
    event: Event,
    clock: Clock,
    policy: Policy,
    *,
    fence: Fence | None = None,
    tries: int = 5,
) -> Outcome:
    """With `fence`, the event applies only while its holder still holds the run (R-G2)."""
    for _ in range(tries):
        job = store.get(job_id)
        if job is None:
            return Outcome(None)
        if fence is not None and not job.fenced_by(fence):
            return Outcome(
                None, Rejection(job.id, job.status, type(event).__name__, "lease lost (fenced out)")
            )
        result = decide(job, event, clock.now(), policy)
        if not isinstance(result, Success):
            return Outcome(None, result.failure())
        decision = result.unwrap()
        if isinstance(store.apply(decision), Applied):
            return Outcome(decision)
    return Outcome(None)  # lost every race: someone else keeps changing the job
