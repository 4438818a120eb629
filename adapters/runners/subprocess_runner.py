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
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

from qrun.core import Handle, Job, Liveness, Run
from qrun.core.ports import Adopted, Exit, Gone

from ..storage.fs import FsInputStore
from .command import CommandSpec
from .procs import ProcessId, identify, liveness

NAME = "subprocess"
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
    ) -> None:
        self.runs_dir = Path(runs_dir).resolve()
        self.inputs = inputs
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self._python = python
        self._monitors: dict[int, subprocess.Popen[bytes]] = {}

    def run_dir(self, job_id: str, run_id: str) -> Path:
        path = (self.runs_dir / segment(job_id) / segment(run_id)).resolve()
        if self.runs_dir not in path.parents:  # cannot happen with segment; checked anyway
            raise ValueError(f"run directory for job {job_id!r} would escape {self.runs_dir}")
        return path

    # -- the Runner port -------------------------------------------------------------------
    def spawn(self, job: Job, run: Run) -> Handle:
        spec = CommandSpec.from_payload(job.payload)
        root = self.run_dir(job.id, run.id)
        root.mkdir(parents=True, exist_ok=False)  # a run id is never spawned twice
        env = {**os.environ, **(spec.env or {})}
        # Who the command is, so it can log, name its outputs or detect a re-run.
        env.update(QRUN_JOB_ID=job.id, QRUN_RUN_ID=run.id, QRUN_ATTEMPT=str(job.attempts))
        if self.inputs is not None:
            env["QRUN_INPUTS_DIR"] = str(self.inputs.dir(job.id))  # the job's stored inputs (R-A1)
        (root / "spec.json").write_text(
            json.dumps({"argv": list(spec.argv), "cwd": spec.cwd, "env": env, "timeout_s": spec.timeout_s})
        )
        monitor = subprocess.Popen(
            [self._python, "-m", "qrun.adapters.runners.monitor", str(root)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(root / "monitor.log", "ab"),  # noqa: SIM115 - the child owns it
            start_new_session=True,  # survives the worker and its terminal's signals
            close_fds=True,
        )
        self._monitors[monitor.pid] = monitor
        who = identify(monitor.pid)
        if who is None:  # it ended before we could look: its exit.json tells the rest
            who = ProcessId("gone", monitor.pid, -1)
        (root / "monitor.json").write_text(json.dumps({"ref": who.ref()}))
        return Handle(NAME, f"{who.ref()}@{root}")

    def adopt(self, job: Job, run: Run) -> Adopted | Gone:
        root = self.run_dir(job.id, run.id)
        try:
            who = ProcessId.parse(json.loads((root / "monitor.json").read_text())["ref"])
        except (OSError, ValueError, KeyError):
            return Gone()
        if (root / "exit.json").exists() or liveness(who) is Liveness.ALIVE:
            return Adopted(Handle(NAME, f"{who.ref()}@{root}"))
        return Gone()

    def on_exit(self, handle: Handle, callback: Callable[[], None]) -> bool:
        """Our own monitor ends right after it records the exit: a thread waits for it.
        A monitor another process started cannot be waited for: poll it."""
        who, _ = _parse(handle)
        proc = self._monitors.get(who.pid)
        if proc is None:
            return False

        def watch() -> None:
            proc.wait()
            callback()

        threading.Thread(target=watch, name=f"qrun-watch-{who.pid}", daemon=True).start()
        return True

    def observe(self, handle: Handle) -> Liveness:
        self._reap()
        who, root = _parse(handle)
        if (root / "exit.json").exists():
            return Liveness.DEAD
        return liveness(who)

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
                return done or Exit(
                    code=-1, error=f"the monitor of {root.name} died without recording an exit"
                )
            if deadline is not None and time.monotonic() >= deadline:
                return None
            time.sleep(_POLL_S)

    def kill(self, handle: Handle) -> None:
        """Ask the monitor to stop the child (SIGTERM to its group, SIGKILL after a grace)."""
        who, _ = _parse(handle)
        if liveness(who) is Liveness.ALIVE:
            with contextlib.suppress(ProcessLookupError):
                os.kill(who.pid, signal.SIGTERM)

    def output(self, handle: Handle) -> tuple[bytes, bytes]:
        _, root = _parse(handle)
        return _read(root / "stdout"), _read(root / "stderr")

    def _reap(self) -> None:
        """Collect monitors of ours that ended, so none lingers as a zombie."""
        for pid, proc in list(self._monitors.items()):
            if proc.poll() is not None:
                del self._monitors[pid]


def _parse(handle: Handle) -> tuple[ProcessId, Path]:
    ref, _, root = handle.ref.partition("@")
    return ProcessId.parse(ref), Path(root)


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
