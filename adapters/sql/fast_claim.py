"""The SQL stores' one-statement claim writes the Claim transition in SQL; this checks
every row it wrote against `decide`, so the SQL can never silently drift from the core."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from qrun.core import Claim, Decision, Job, Policy, Status, decide
from qrun.core.claim import queue_order, run_id_for
from qrun.core.ports import StoreError
from returns.result import Success


def verified(
    claimed: Iterable[Job], worker: str, lease_until: datetime, now: datetime, policy: Policy
) -> list[Decision]:
    """The decisions for rows a one-statement claim wrote, in hand-out order."""
    out: list[Decision] = []
    for after in claimed:
        # What the job was: a queued job's ownership is clean (R-C1), so the claimed row
        # determines it; decide must then produce exactly the row SQL wrote.
        before = after.evolve(
            status=Status.QUEUED,
            attempts=after.attempts - 1,
            lease=None,
            started_at=None,
            run=None,
            version=after.version - 1,
        )
        expected = decide(before, Claim(worker, run_id_for(before), lease_until), now, policy)
        if not isinstance(expected, Success) or expected.unwrap().job != after:
            raise StoreError(
                f"claim of job {before.id} wrote {after!r}, but decide says {expected!r}; "
                "this is a bug in the store, please report it"
            )
        out.append(expected.unwrap())
    out.sort(key=lambda d: queue_order(d.job))  # claiming changes none of the order fields
    return out


CLAIM_SET = (
    "status = 'running', attempts = {j}attempts + 1, lease_worker = {worker}, lease_until = {until}, "
    "started_at = {now}, run_id = {j}id || '/' || ({j}version + 1), run_epoch = 1, handle_runner = NULL, "
    "handle_ref = NULL, exit_code = NULL, exit_recorded_at = NULL, version = {j}version + 1"
)
"""The columns a Claim sets, as `decide` sets them (checked by `verified`); `{j}` is the
updated table's qualifier ("j." where the statement joins another table)."""
