"""Batches (R-E1): jobs submitted together under one id, summarised from what the store
holds (never from a worker's memory), so any process can wait on a batch."""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping
from datetime import datetime

import attrs

from .job import TERMINAL, Status


@attrs.frozen
class Durations:
    """Seconds from the last start to the end, over the batch's finished jobs that ran."""

    count: int
    min_s: float
    median_s: float
    max_s: float
    total_s: float


@attrs.frozen
class BatchSummary:
    batch: str
    counts: Mapping[Status, int]
    durations: Durations | None  # None until a job of the batch has run and finished

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        return sum(n for s, n in self.counts.items() if s in TERMINAL)

    @property
    def complete(self) -> bool:
        """Every job of the batch has ended (an empty, unknown batch is not complete)."""
        return self.total > 0 and self.finished == self.total

    @property
    def succeeded(self) -> bool:
        return self.complete and self.counts.get(Status.DONE, 0) == self.total

    def count(self, status: Status) -> int:
        return self.counts.get(status, 0)


def summarize(batch: str, rows: Iterable[tuple[Status, datetime | None, datetime | None]]) -> BatchSummary:
    """The summary of `batch` from (status, started_at, finished_at) of each of its jobs."""
    counts = dict.fromkeys(Status, 0)
    spans: list[float] = []
    for status, started, finished in rows:
        counts[status] += 1
        if status in TERMINAL and started is not None and finished is not None:
            spans.append(max(0.0, (finished - started).total_seconds()))
    durations = (
        Durations(len(spans), min(spans), statistics.median(spans), max(spans), sum(spans)) if spans else None
    )
    return BatchSummary(batch, {s: n for s, n in counts.items() if n}, durations)


def clear_refusal(batch: str, open_ids: Iterable[str], needed_by: Mapping[str, str]) -> str | None:
    """Why `batch` cannot be cleared, or None: `open_ids` are its queued or running jobs,
    `needed_by` maps a job of it to a job outside it that depends on it."""
    still = sorted(open_ids)
    if still:
        shown = ", ".join(still[:5]) + (" ..." if len(still) > 5 else "")
        return (
            f"batch {batch} has {len(still)} job(s) still queued or running ({shown}); "
            "wait for it (qrun wait --batch) or cancel them first"
        )
    if needed_by:
        dep, dependent = sorted(needed_by.items())[0]
        return (
            f"job {dependent}, outside batch {batch}, depends on its job {dep}; "
            f"clear or finish {dependent} first"
        )
    return None
