"""Start-up waits for the database (R-H2): each step that reads or writes the store is
retried with backoff while the database is down, saying so in the log, instead of ending
the daemon. A service manager starts daemons before or beside their database; only bad
configuration, a schema of another version and a held name end start-up."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from qrun.adapters.outages import is_outage
from qrun.adapters.redact import mask
from qrun.core.errors import QrunError

log = logging.getLogger("qrun")
T = TypeVar("T")
FIRST_PAUSE_S = 0.5
MAX_PAUSE_S = 30.0


class StartupAborted(QrunError):
    """The daemon was asked to stop while it waited for the database."""


def until_up(
    step: Callable[[], T],
    what: str,
    *,
    wait_s: float | None,
    stop: threading.Event | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """`step()`, retried while it fails for an outage, at most `wait_s` (None: forever)."""
    stop = stop or threading.Event()
    deadline = None if wait_s is None else clock() + wait_s
    pause = FIRST_PAUSE_S
    while True:
        try:
            return step()
        except Exception as exc:
            if not is_outage(exc) or (deadline is not None and clock() >= deadline):
                raise
            if deadline is not None:
                pause = min(pause, max(deadline - clock(), 0.0))
            log.warning(
                "waiting for the database: %s failed: %s; retrying in %.1fs",
                what,
                mask(" ".join(str(exc).split()) or type(exc).__name__),
                pause,
            )
        if stop.wait(pause):
            raise StartupAborted(f"stopped while waiting for the database ({what})")
        pause = min(pause * 2, MAX_PAUSE_S)
