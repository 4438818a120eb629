"""What a live daemon reports of itself, for operators (R-F4): which daemons run, where,
and how many of their slots are in use. Nothing is decided from it: leases and the
reaper decide who runs what; a daemon that stops reporting is simply no longer listed."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs

#: A report older than this is a daemon that is gone; stores drop it at the next report.
FORGOTTEN_AFTER = timedelta(hours=1)


def _queues(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return tuple(value) if value is not None else None


@attrs.frozen(kw_only=True)
class DaemonSeen:
    id: str  # its worker id: one per process, never reused
    name: str
    host: str
    pid: int
    slots: int
    running: int
    queues: tuple[str, ...] | None = attrs.field(default=None, converter=_queues)
    started_at: datetime
    seen_at: datetime
