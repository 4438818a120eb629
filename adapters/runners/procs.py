"""Process identity that a reused pid cannot fake (R-C7).

A process is named by the boot it belongs to, its pid, and its start time in clock ticks
since boot (field 22 of /proc/PID/stat). A pid recycled by another process has another
start time; a reboot has another boot id. Either way the old name reads as dead.
"""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from qrun.core import Liveness

# Every command's monitor imports this module: it stays free of attrs and of qrun.core,
# whose imports would cost each command more than its fork and exec (issue 31).

_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_PR_GET_DUMPABLE, _PR_SET_DUMPABLE = 3, 4


class ProcessId(NamedTuple):
    boot: str
    pid: int
    start: int

    def ref(self) -> str:
        return f"{self.boot}:{self.pid}:{self.start}"

    @classmethod
    def parse(cls, ref: str) -> ProcessId:
        boot, pid, start = ref.rsplit(":", 2)
        return cls(boot, int(pid), int(start))


_boot: str | None = None


def boot_id() -> str:
    """This boot's id. Read once: a boot cannot change under a live process."""
    global _boot
    if _boot is None:
        try:
            _boot = _BOOT_ID.read_text().strip()
        except OSError:
            _boot = "unknown-boot"
    return _boot


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, start time) of `pid`, or None if there is no such process."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return fields[0], int(fields[19])


def identify(pid: int) -> ProcessId | None:
    found = _stat(pid)
    return ProcessId(boot_id(), pid, found[1]) if found else None


def liveness(who: ProcessId) -> Liveness:
    from qrun.core import Liveness

    if not Path("/proc/self/stat").exists():
        return Liveness.UNKNOWN  # no procfs: we cannot tell, so we do not guess
    if who.boot != boot_id():
        return Liveness.DEAD
    found = _stat(who.pid)
    if found is None or found[1] != who.start or found[0] in ("Z", "X"):
        return Liveness.DEAD
    return Liveness.ALIVE


def pid_runs(pid: int) -> bool:
    """Whether a live process has `pid` here; True where there is no procfs to tell."""
    if not Path("/proc/self/stat").exists():
        return True
    found = _stat(pid)
    return found is not None and found[0] not in ("Z", "X")


def _prctl(option: int, value: int) -> int | None:
    """libc's prctl(option, value), or None where there is none (not Linux)."""
    try:
        return int(ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0))
    except (OSError, AttributeError):
        return None


def hide_from_same_user() -> bool:
    """Mark this process not dumpable (prctl PR_SET_DUMPABLE 0), so a process of the same
    user, a command job the daemon started among them, can neither read its environment
    and memory through /proc nor ptrace it (R-I1). Root keeps that power whatever we do:
    run the daemon as a user of its own. Its children are dumpable again once they exec.
    Whether it took (False off Linux)."""
    return _prctl(_PR_SET_DUMPABLE, 0) == 0


def dumpable() -> bool | None:
    """This process's PR_GET_DUMPABLE, or None where it cannot be asked."""
    found = _prctl(_PR_GET_DUMPABLE, 0)
    return None if found is None else bool(found)
