"""Daemons: what a live daemon reports of itself, for operators (R-F4), and what proves
one dead. Nothing is decided from the reports: leases and the reaper decide who runs
what; a daemon that stops reporting is simply no longer listed."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    #: The job kinds it can run (its runners and its app's tasks); None: not reported.
    kinds: tuple[str, ...] | None = attrs.field(default=None, converter=_queues)
    started_at: datetime
    seen_at: datetime


@attrs.frozen
class WorkerId:
    """What a worker id says of its process: NAME@HOST:PID:NONCE (R-G1)."""

    name: str
    host: str
    pid: int

    @classmethod
    def parse(cls, text: str) -> WorkerId | None:
        name, at, rest = text.rpartition("@")
        host, _, tail = rest.partition(":")
        pid = tail.partition(":")[0]
        if not at or not host or not pid.isdigit():
            return None
        return cls(name, host, int(pid))


def proven_dead(holder: str, *, host: str, pid: int, runs: Callable[[int], bool]) -> bool:
    """Whether the process behind worker id `holder` is certainly gone, as process `pid`
    on `host` sees it (`runs(pid)`: a process of that pid lives here). Only a process on
    this host can be seen to be gone; one elsewhere may be alive, however quiet. Holding
    the holder's name is no such proof: a lock that lives on a database connection is
    released when the connection drops, while its holder lives on (R-G1)."""
    seen = WorkerId.parse(holder)
    if seen is None or seen.host != host:
        return False
    return seen.pid == pid or not runs(seen.pid)  # our own pid: its earlier owner ended
