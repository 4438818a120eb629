"""The simulated world the runtime runs in: a clock that can jump, and a runner whose
executions behave like the subprocess runner's (a monitor that claims its run, starts the
command, records its exit) but advance only when the simulation says so.

What the world checks as it goes: a command starts only for the run its job holds, never
while an earlier execution of the same job runs, and never after an earlier run recorded
exit 0 while its job held it. (A run whose record lands only after its job moved on, a
full disk outlasting the ceiling, say, was given up before anyone could know.)
"""

from __future__ import annotations

import errno
from datetime import datetime, timedelta

import attrs

from qrun.core import Handle, Job, Liveness, Run
from qrun.core.ports import Adopted, Exit, Gone, JobStore

NAME = "sim"


class SimCrash(BaseException):
    """A simulated kill -9 at a crash point: the daemon is gone, its memory with it."""


class Violation(AssertionError):
    """A promise of the runtime was broken."""


class SimClock:
    """Wall time (which can jump) and monotonic time (which cannot)."""

    def __init__(self, start: datetime) -> None:
        self._wall = start
        self._mono = 0.0

    def now(self) -> datetime:
        return self._wall

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._mono += seconds
        self._wall += timedelta(seconds=seconds)

    def jump(self, seconds: float) -> None:
        """The wall clock is set (NTP, an operator); no time passed."""
        self._wall += timedelta(seconds=seconds)


@attrs.define
class Execution:
    """One run's monitor and command, as the subprocess runner makes them."""

    job_id: str
    run_id: str
    code: int  # what the command exits with, if it gets to end on its own
    monitor: bool = True  # the monitor process lives
    claimed: bool = False  # the monitor created monitor.json
    given_up: bool = False  # an adopter created monitor.json first: nothing will start
    command: str = "unstarted"  # unstarted | running | ended
    record: int | None = None  # exit.json
    held: bool = False  # its job still held this run when the exit was recorded
    stop: bool = False  # a kill reached a monitor that had not started the command yet
    pending: int | None = None  # an exit the monitor could not write yet (a full disk)
    lasts: float = 0.0  # how long the command runs before it may end on its own
    started: float = 0.0  # when it started (monotonic)

    @property
    def alive(self) -> bool:
        return self.monitor or self.command == "running"

    def next_step(self, now: float) -> str | None:
        """What this execution does next on its own, if anything, at monotonic `now`."""
        if self.command == "running":
            return "end" if now >= self.started + self.lasts else None
        if not self.monitor:
            return None
        if self.pending is not None:
            return "record"
        return "claim" if not self.claimed else "start" if self.command == "unstarted" else None


@attrs.define
class SimRunner:
    """The Runner port over simulated executions (and ExitPeek, like the real one)."""

    clock: SimClock
    store: JobStore | None = None  # to check that a command starts only for its job's run
    name: str = NAME
    disk_full: bool = False
    runs: dict[str, Execution] = attrs.Factory(dict)  # by run id
    starts: dict[str, int] = attrs.Factory(dict)  # commands started, by job id
    exit_code_of: dict[str, int] = attrs.Factory(dict)  # what a job's commands exit with
    lasts: dict[str, float] = attrs.Factory(dict)  # how long a job's commands run at least

    # -- the Runner port -----------------------------------------------------------------
    def spawn(self, job: Job, run: Run) -> Handle:
        if self.disk_full:
            raise OSError(errno.ENOSPC, "No space left on device")
        if run.id in self.runs:
            raise FileExistsError(f"run {run.id} was spawned before")
        self.runs[run.id] = Execution(
            job.id, run.id, self.exit_code_of.get(job.id, 0), lasts=self.lasts.get(job.id, 0.0)
        )
        return Handle(NAME, run.id)

    def adopt(self, job: Job, run: Run) -> Adopted | Gone:
        e = self.runs.get(run.id)
        if e is None:
            return Gone()
        if not e.claimed:
            e.given_up = True  # as the real adopter does: no monitor will start it now
            return Gone()
        if e.record is not None or e.alive:
            return Adopted(Handle(NAME, run.id))
        return Gone()

    def observe(self, handle: Handle) -> Liveness:
        e = self.runs[handle.ref]
        if e.record is not None:
            return Liveness.DEAD
        return Liveness.ALIVE if e.alive else Liveness.DEAD

    def exit_code(self, handle: Handle) -> int | None:
        return self.runs[handle.ref].record

    def wait(self, handle: Handle, timeout_s: float | None) -> Exit | None:
        e = self.runs[handle.ref]
        if e.record is not None:
            return Exit(code=e.record, error=None if e.record == 0 else f"exit code {e.record}")
        if not e.alive:
            return Exit(code=-1, error=f"the monitor of {e.run_id} died without recording an exit")
        return None

    def kill(self, handle: Handle) -> None:
        """Immediate, where the real one allows a grace (SIGTERM, then SIGKILL)."""
        e = self.runs[handle.ref]
        if e.monitor and e.command == "unstarted":
            e.stop = True
        elif e.command == "running":
            e.command = "ended"
            if e.monitor:
                self._record(e, -15)

    # -- what executions do on their own ----------------------------------------------
    def step(self, e: Execution) -> str:
        what = e.next_step(self.clock.monotonic())
        if what == "claim":
            if e.given_up:
                e.monitor = False
                return "monitor finds its run given up and exits"
            e.claimed = True
            return "monitor claims its run"
        if what == "start":
            if e.stop:
                self._record(e, -15)
                return "monitor was stopped before it started the command"
            self._check_start(e)
            e.command = "running"
            e.started = self.clock.monotonic()
            self.starts[e.job_id] = self.starts.get(e.job_id, 0) + 1
            return "command starts"
        if what == "record":
            code, e.pending = e.pending, None
            assert code is not None
            self._record(e, code)
            return f"monitor records exit {code} at last"
        if what == "end":
            e.command = "ended"
            if e.monitor:
                self._record(e, e.code)
                return f"command ends with {e.code}" + ("" if e.record is not None else ", disk full")
            return f"command ends with {e.code}, no monitor to record it"
        raise AssertionError(f"{e.run_id} has nothing to do")

    def monitor_dies(self, e: Execution) -> None:
        e.monitor = False

    def _record(self, e: Execution, code: int) -> None:
        """The monitor writes exit.json and ends; on a full disk it lives on, retrying."""
        if self.disk_full:
            e.pending = code
            return
        e.monitor = False
        e.record = code
        job = self.store.get(e.job_id) if self.store is not None else None
        e.held = job is not None and job.run is not None and job.run.id == e.run_id

    def _check_start(self, e: Execution) -> None:
        job = self.store.get(e.job_id) if self.store is not None else None
        if job is not None and (job.run is None or job.run.id != e.run_id):
            held = job.run.id if job.run else "none"
            raise Violation(f"{e.run_id} starts, but its job is {job.status.value} with run {held}")
        for other in self.runs.values():
            if other.job_id != e.job_id or other is e:
                continue
            if other.command == "running":
                raise Violation(f"{e.run_id} starts while {other.run_id} of the same job still runs")
            if other.record == 0 and other.held:
                raise Violation(f"{e.run_id} starts after {other.run_id} recorded exit 0")

    def moving(self) -> list[Execution]:
        now = self.clock.monotonic()
        steps = ((e, e.next_step(now)) for e in self.runs.values())
        return [e for e, what in steps if what is not None and not (what == "record" and self.disk_full)]
