"""Batches and pools (R-E1, R-E3)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from qrun.core import BatchSummary
from qrun.core.errors import NotFound

from ..views import pools_view
from .base import Parts


class BatchCases(Parts):
    def batch(self, batch: str) -> BatchSummary:
        return self.store.batch(batch)

    def wait_batch(
        self,
        batch: str,
        *,
        timeout_s: float | None = None,
        poll_s: float = 0.5,
        progress: Callable[[BatchSummary], None] | None = None,
    ) -> BatchSummary:
        """Block until every job of `batch` has ended (R-E1), reading the summary from the
        store, so any process can wait on any batch. Returns the last summary: check
        `complete` (False after a timeout) and `succeeded`. An unknown batch raises."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            summary = self.store.batch(batch)
            if summary.total == 0:
                raise NotFound(f"batch {batch} has no jobs (never submitted, or cleared)")
            if progress is not None:
                progress(summary)
            if summary.complete or (deadline is not None and time.monotonic() >= deadline):
                return summary
            pause = poll_s if deadline is None else min(poll_s, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)

    def clear_batch(self, batch: str) -> int:
        return self.store.clear_batch(batch)

    def pools(self) -> dict[str, dict[str, Any]]:
        """Each pool's size, slots in use and which job holds each (R-E3)."""
        return pools_view(self.store)
