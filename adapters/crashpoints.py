"""Crash points: the places between two durable steps where a process may die.

Each step of the spawn, exit and adoption protocols is written down before the next one
starts, so a process killed between any two of them loses nothing and repeats nothing.
These names mark those places. The runtime and the monitor call their hook at each one;
in production the hook does nothing. Tests set one to prove the claim:

- the simulation (tests/sim) raises there, and the simulated daemon is gone for good;
- `QRUN_TEST_CRASH_AT=POINT[:N]` makes a real process SIGKILL itself the Nth time
  (default: the first) it reaches POINT; with `QRUN_TEST_CRASH_ONCE=PATH`, only the first
  process to create PATH does (a restarted daemon, a monitor of a retry, live on).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Mapping

ENV = "QRUN_TEST_CRASH_AT"
ONCE_ENV = "QRUN_TEST_CRASH_ONCE"

CrashHook = Callable[[str], None]

POINTS: Mapping[str, str] = {
    # the worker
    "claim": "a claim (or adoption) is written; nothing is started yet",
    "prepare": "the job's pool slot is made ready; the runner has not started the run",
    "spawn": "the runner started the run; its handle is not stamped",
    "stamp": "the handle is stamped",
    "exit": "a run's exit is collected; it is not written",
    "finish": "a run's end is written; its effects (notify, delete inputs) are not carried out",
    "adopt": "an adoption is written; the runner has not looked for the run",
    "adopted": "the runner found the run; a stamp it lacked is not written",
    # the reaper
    "record": "the reaper wrote an exit nobody had recorded",
    "reap": "a reap is written; its effects are not carried out",
    # the monitor of a command
    "monitor.claimed": "the monitor claimed its run; the command is not started",
    "monitor.started": "the command started",
    "monitor.exited": "the command ended; its exit is not recorded",
}


def never(point: str) -> None:
    """The production hook: no crash point ever fires."""


def from_env(environ: Mapping[str, str] = os.environ) -> CrashHook:
    """The hook `QRUN_TEST_CRASH_AT` asks for (tests only), else `never`."""
    spec = environ.get(ENV, "")
    if not spec:
        return never
    point, _, nth = spec.partition(":")
    if point not in POINTS or not (nth or "1").isdigit() or int(nth or "1") < 1:
        from qrun.core.errors import InvalidInput  # here: every command's monitor imports this module

        known = ", ".join(POINTS)
        raise InvalidInput(f"{ENV}={spec!r}: expected POINT or POINT:N (N >= 1), POINT one of {known}")
    left = int(nth or "1")
    once = environ.get(ONCE_ENV, "")

    def hook(name: str) -> None:
        nonlocal left
        if name == point:
            left -= 1
            if left == 0 and _first(once):
                os.kill(os.getpid(), signal.SIGKILL)

    return hook


def _first(token: str) -> bool:
    """Whether this process is the first to claim `token` (always, without one)."""
    if not token:
        return True
    try:
        os.close(os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        return False
    return True
