"""The SQL stores' one-statement claim writes the Claim transition in SQL (`CLAIM_SET`).
The shipped contract holds it equal to `decide`: its state machine compares every claim
with the reference store's, which claims through `decide`, decision for decision (the
job, the Spawn effect and the changed fields), and an obligation compares a claim with
`decide(job, Claim(...))` directly. So the rows it returns become decisions as they are,
without deciding each one again on the hot path."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from qrun.core import Decision, Job, Spawn, Status
from qrun.core.claim import queue_order
from qrun.core.ports import StoreError

#: The fields a claim of a queued job changes (its pool slot stays None: jobs that need
#: a pool take the general path).
CLAIMED = frozenset({"status", "attempts", "lease", "started_at", "run", "history"})


def claimed(rows: Iterable[Job], worker: str) -> list[Decision]:
    """The decisions for rows a one-statement claim wrote, in hand-out order."""
    out: list[Decision] = []
    for job in rows:
        run, lease = job.run, job.lease
        if job.status is not Status.RUNNING or run is None or lease is None or lease.worker != worker:
            raise StoreError(
                f"claim of job {job.id} wrote {job!r}, which is no claim by {worker}; "
                "this is a bug in the store, please report it"
            )
        out.append(Decision(job, (Spawn(job.id, run.id),), CLAIMED))
    out.sort(key=lambda d: queue_order(d.job))  # claiming changes none of the order fields
    return out


CLAIM_SET = (
    "status = 'running', attempts = {j}attempts + 1, lease_worker = {worker}, lease_until = {until}, "
    "started_at = {started}, run_id = {j}id || '/' || ({j}version + 1), run_epoch = 1, handle_runner = NULL, "
    "handle_ref = NULL, exit_code = NULL, exit_recorded_at = NULL, version = {j}version + 1, {history}"
)
"""The columns a Claim sets, as `decide` sets them; `{j}` is the updated table's
qualifier ("j." where the statement joins another table), `{started}` the later of now
and `requested_at` (a clock set back never stamps a start before the request), `{history}`
the claim's step on the timeline (`claim_step`)."""


IMPOSSIBLE_QUEUED = (
    "(run_id IS NOT NULL OR lease_worker IS NOT NULL OR started_at IS NOT NULL OR finished_at IS NOT NULL "
    "OR cancel_requested OR attempts >= max_attempts OR pool_slot IS NOT NULL)"
)
"""A queued row that breaks R-C1 (`core.invariants`): the one-statement claim leaves it,
and the claim, to the general path, which heals it (`core.claim.decide_picks`). The
contract's obligations hold the two to each other."""


def claim_step(step: Callable[..., str], *, j: str, worker: str, at: str) -> str:
    """The timeline step `decide` records for a Claim, as `Dialect.step` writes it."""
    return step(j=j, event="Claim", status="running", attempt=f"{j}attempts + 1", worker=worker, at=at)
