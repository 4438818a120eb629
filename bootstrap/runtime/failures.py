"""How a loop logs a pass that failed: an outage in one line (it is expected, and the
loop retries), anything else with its traceback (a bug to report)."""

from __future__ import annotations

import logging

from qrun.adapters.outages import is_outage


def log_failure(log: logging.Logger, what: str, exc: BaseException, *args: object) -> None:
    if is_outage(exc):
        log.warning(what + ": %s", *args, exc)
    else:
        log.error(what, *args, exc_info=exc)
