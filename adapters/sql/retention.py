"""The WHERE clause of finished jobs past retention (`core.retention.cutoff`), for both
SQL stores."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

from qrun.core import TERMINAL, Status
from qrun.core.retention import cutoff


def expired_sql(
    keep: Mapping[Status, timedelta], now: datetime, mark: str, time_out: Callable[[datetime], Any]
) -> tuple[str, tuple[Any, ...]]:
    """The clause and its arguments ("" if nothing is past retention); `mark` is the
    dialect's placeholder, `time_out` its time conversion."""
    parts: list[str] = []
    args: list[Any] = []
    for status in sorted(TERMINAL, key=lambda s: s.value):
        limit = cutoff(keep, status, now)
        if limit is not None:
            parts.append(f"(status = '{status.value}' AND finished_at < {mark})")
            args.append(time_out(limit))
    if not parts:
        return "", ()
    # The literal IN list matches the partial index's WHERE, so the planner can use it.
    return f"status IN ('done', 'failed', 'cancelled') AND ({' OR '.join(parts)})", tuple(args)
