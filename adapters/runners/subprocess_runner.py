"""The subprocess runner: each run is a directory and a detached monitor process.

The run directory (RUNS/<job>/<run>/) holds the command (spec.json), the monitor's
identity (monitor.json), the child's stdout and stderr, and exit.json once the child has
ended. The worker never waits on the child itself, so a worker that dies leaves nothing
behind but a directory a new worker can adopt: a live monitor is watched to its end, a
finished one gives its recorded exit, and a directory whose monitor died unrecorded
gives nothing to adopt (R-A6). Identities are boot id + pid + start time (R-C7).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from urllib.parse import quote

from qrun.core import Handle, Job, Liveness, Run
from qrun.core.errors import InvalidInput
from qrun.core.ports import Adopted, Exit, Gone

from ..storage.fs import FsInputStore
from ..storage.private import open_private, private_dir, write_private
from .command import CommandSpec
from .environment import INHERITED, job_environment, monitor_environment
from .exits import ExitWatch
from .monitor import create_once
from .native import CHOICES, NoNativeMonitor, build
from .procs import ProcessId, identify, liveness

NAME = "subprocess"
log = logging.getLogger("qrun.runner")
_exits = ExitWatch()  # one per process: every runner's monitors, one thread
_POLL_S = 0.05


def segment(value: str) -> str:
    """A path segment that is `value`, encoded: never '.', '..', empty or holding '/'."""
    return "r-" + quote(value, safe="")


class SubprocessRunner:
    name = NAME

    def __init__(
        self,
        runs_dir: str | os.PathLike[str],
        *,
        python: str = sys.executable,
        inputs: FsInputStore | None = None,
        env_allow: Iterable[str] = INHERITED,
        monitor: str = "auto",
    ) -> None:
        if monitor not in CHOICES:
            raise InvalidInput(f"monitor must be one of {', '.join(CHOICES)}, got {monitor!r}")
        self.runs_dir = Path(runs_dir).resolve()
        self.inputs = inputs
        self.env_allow = tuple(env_allow)
        private_dir(self.runs_dir)
        self._python = python
        self._monitors: dict[int, subprocess.Popen[bytes]] = {}
        self._monitor = monitor
        self._pidfds: dict[int, int] = {}  # a monitor's pidfd until on_exit hands it to _exits
        self._command: list[str] | None = None  # found at the first spawn: building no I/O

    def monitor_command(self) -> list[str]:
        """How a run's monitor starts: the native one where it builds (`auto`), else
        the Python one. Decided once, at the first spawn."""
        if self._command is None:
            native, why = (None, "") if self._monitor == "python" else build(self.runs_dir / ".monitor")
            if native is not None:
                self._command = [str(native)]
            elif self._monitor == "native":
                raise NoNativeMonitor(
                    f"command_monitor = native, but the native monitor cannot be built: {why}; install a "
                    "C compiler (apt-get install gcc) or set command_monitor = auto"
                )
            else:
                if self._monitor == "auto":
                    log.warning("commands use the Python monitor (about 50 ms of CPU each): %s", why)
                self._command = [self._python, "-m", "qrun.adapters.runners.monitor"]
        return self._command

    def run_dir(self, job_id: str, run_id: str) -> Path:
        path = (self.runs_dir / segment(job_id) / segment(run_id)).resolve()
        if self.runs_dir not in path.parents:  # cannot happen with segment; checked anyway
            raise InvalidInput(f"run directory for job {job_id!r} would escape {self.runs_dir}")
        return path

    # -- the Runner port -------------------------------------------------------------------
    def spawn(self, job: Job, run: Run) -> Handle:
        spec = CommandSpec.from_payload(job.payload)
        start_monitor = self.monitor_command()
        root = self.run_dir(job.id, run.id)
        private_dir(root.parent)
        root.mkdir(mode=0o700, exist_ok=False)  # a run id is never spawned twice
        env = job_environment(self.env_allow, spec.env)
        # Who the command is, so it can log, name its outputs or detect a re-run.
        env.update(QRUN_JOB_ID=job.id, QRUN_RUN_ID=run.id, QRUN_ATTEMPT=str(job.attempts))
        if self.inputs is not None:
            env["QRUN_INPUTS_DIR"] = str(self.inputs.dir(job.id))  # the job's stored inputs (R-A1)
        # Private: it holds the job's environment, which may hold its secrets.
        write_private(
            root / "spec.json",
            json.dumps({"argv": list(spec.argv), "cwd": spec.cwd, "env": env, "timeout_s": spec.timeout_s}),
        )
        monitor = subprocess.Popen(
            [*start_monitor, str(root)],
            # Built for it: the command can read its parent's environment, and the
            # daemon's holds its token and its database password (R-I1).
            env=monitor_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open_private(root / "monitor.log", "ab"),
            start_new_session=True,  # survives the worker and its terminal's signals
            close_fds=True,
        )
        self._monitors[monitor.pid] = monitor
        pidfd = ExitWatch.open(monitor)
        if pidfd is not None:
            self._pidfds[monitor.pid] = pidfd
        who = identify(monitor.pid)  # the monitor writes the same into monitor.json itself
        if who is None:  # it ended before we could look: its exit.json tells the rest
            who = ProcessId("gone", monitor.pid, -1)
        return Handle(NAME, f"{who.ref()}@{root}")

    def adopt(self, job: Job, run: Run) -> Adopted | Gone:
        """A live or finished run is adopted. So is one whose monitor died while its
        command lives (found by the command's own pid and start time): it is never
        started a second time while the first may still run."""
        root = self.run_dir(job.id, run.id)
        if not root.is_dir():
            return Gone()
        who = _claimed_by(root)
        if who is None:
            return Gone()
        if (root / "exit.json").exists() or _running(who, root):
            return Adopted(Handle(NAME, f"{who.ref()}@{root}"))
        return Gone()

    def on_exit(self, handle: Handle, callback: Callable[[], None]) -> bool:
        """Our own monitor ends right after it records the exit: a thread waits for it.
        A monitor another process started cannot be waited for: poll it."""
        who, _ = _parse(handle)
        proc = self._monitors.get(who.pid)
        if proc is None:
            return False
        pidfd = self._pidfds.pop(who.pid, None)
        if pidfd is not None:
            _exits.add(pidfd, proc, callback)
            return True

        def watch() -> None:  # no pidfds here: a thread waits for this one
            proc.wait()
            callback()

        threading.Thread(target=watch, name=f"qrun-watch-{who.pid}", daemon=True).start()
        return True

    def observe(self, handle: Handle) -> Liveness:
        """Alive while the monitor or, if the monitor died, the command itself lives.
        Unknown for a run started on another host (its folder is not here): its processes
        cannot be seen from here, and a reaper that took them for dead would start the
        job again beside them. Its holder's lease, and adoption on its host, decide."""
        self._reap()
        who, root = _parse(handle)
        if not root.is_dir():
            return Liveness.UNKNOWN
        if (root / "exit.json").exists():
            return Liveness.DEAD
        return Liveness.ALIVE if _running(who, root) else Liveness.DEAD

    def exit_code(self, handle: Handle) -> int | None:
        """The recorded exit code, or None: only the monitor records one. The reaper asks
        this, and judges a run without one by `observe` (R-B1)."""
        _, root = _parse(handle)
        done = _read_exit(root)
        return done.code if done is not None else None

    def wait(self, handle: Handle, timeout_s: float | None) -> Exit | None:
        who, root = _parse(handle)
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            self._reap()
            done = _read_exit(root)
            if done is not None:
                return done
            if liveness(who) is Liveness.DEAD:
                done = _read_exit(root)  # it may have written just before it ended
                if done is not None:
                    return done
                if not _running(who, root):
                    error = (
                        f"the monitor of {root.name} died without recording an exit, and its command ended"
                    )
                    return Exit(code=-1, error=error)
                # The command outlived its monitor: the run goes on until the command ends.
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(_POLL_S)

    def kill(self, handle: Handle) -> None:
        """Ask the monitor to stop the child (SIGTERM to its group, SIGKILL after a grace);
        with the monitor dead, stop the command's group directly."""
        who, root = _parse(handle)
        if liveness(who) is Liveness.ALIVE:
            with contextlib.suppress(ProcessLookupError):
                os.kill(who.pid, signal.SIGTERM)
            return
        child = _child(root)
        if child is not None and liveness(child) is Liveness.ALIVE:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGKILL)

    def output(self, handle: Handle) -> tuple[bytes, bytes]:
        _, root = _parse(handle)
        return _read(root / "stdout"), _read(root / "stderr")

    def logs(self, job_id: str, run: Run) -> tuple[bytes, bytes]:
        root = self.run_dir(job_id, run.id)
        return _read(root / "stdout"), _read(root / "stderr")

    def _reap(self) -> None:
        """Collect monitors of ours that ended, so none lingers as a zombie."""
        for pid, proc in list(self._monitors.items()):
            if proc.poll() is not None:
                del self._monitors[pid]
                pidfd = self._pidfds.pop(pid, None)  # never handed to on_exit
                if pidfd is not None:
                    os.close(pidfd)


def _parse(handle: Handle) -> tuple[ProcessId, Path]:
    ref, _, root = handle.ref.partition("@")
    return ProcessId.parse(ref), Path(root)


def _claimed_by(root: Path) -> ProcessId | None:
    """The monitor that claimed this run, or None: then no monitor ever will, because the
    run is given up here (monitor.json created first, as the monitor itself does)."""
    path = root / "monitor.json"
    if create_once(path, {"ref": None, "given_up": True}):
        return None
    deadline = time.monotonic() + 2.0
    while True:  # the monitor writes its identity right after creating the file
        try:
            ref = json.loads(path.read_text())["ref"]
            return ProcessId.parse(ref) if ref else None
        except (OSError, ValueError, KeyError):
            if time.monotonic() > deadline:
                return None
            time.sleep(0.01)


def _child(root: Path) -> ProcessId | None:
    try:
        return ProcessId.parse(json.loads((root / "child.json").read_text())["ref"])
    except (OSError, ValueError, KeyError):
        return None


def _running(monitor: ProcessId, root: Path) -> bool:
    """The monitor lives, or it died and the command it started lives on."""
    if liveness(monitor) is Liveness.ALIVE:
        return True
    child = _child(root)
    return child is not None and liveness(child) is Liveness.ALIVE


def _read_exit(root: Path) -> Exit | None:
    try:
        data = json.loads((root / "exit.json").read_text())
    except FileNotFoundError:
        return None
    code = int(data["code"])
    if data.get("timed_out"):
        return Exit(code=code, error="timed out")
    if data.get("killed"):
        return Exit(code=code, error="killed")
    if data.get("error"):
        return Exit(code=code, error=str(data["error"]))
    return Exit(code=code, error=None if code == 0 else f"exit code {code}")


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
