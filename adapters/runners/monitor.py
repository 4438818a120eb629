"""The monitor: a small detached process that owns one run's child process.

    python -m qrun.adapters.runners.monitor RUN_DIR

It reads RUN_DIR/spec.json, starts the child in its own process group with stdout and
stderr going to files, enforces the timeout, forwards SIGTERM to the child's group, and
when the child ends writes RUN_DIR/exit.json atomically. Because the monitor, not the
worker, waits for the child, the exit code is recorded even if the worker died: a new
worker adopts the run by reading RUN_DIR (R-A6, R-B5).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

from qrun.adapters import crashpoints
from qrun.adapters.runners.procs import identify
from qrun.adapters.storage.private import open_private

KILL_GRACE_S = 5.0


def write_atomic(path: Path, data: dict[str, Any], *, sync: bool = False) -> None:
    """`data` as JSON at `path`, whole or not at all; `sync`: on disk before it returns."""
    tmp = path.with_suffix(".tmp")
    with open_private(tmp, "w") as f:
        json.dump(data, f)
        if sync:
            f.flush()
            os.fsync(f.fileno())
    os.replace(tmp, path)


def create_once(path: Path, data: dict[str, Any]) -> bool:
    """Create `path` holding `data`, unless it exists: whether this call made it. The run's
    monitor.json is made this way, exactly once, by its monitor or by an adopter."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    os.write(fd, json.dumps(data).encode())
    os.close(fd)
    return True


def record_exit(root: Path, record: dict[str, Any]) -> None:
    """Write exit.json, however long that takes. Until it lands the run reads as alive
    (this monitor lives), so a full disk delays the job's end instead of losing it: a
    monitor that gave up here would leave a run nobody can tell ended, to be run again."""
    delay = 0.1
    while True:
        try:
            write_atomic(root / "exit.json", record)
            return
        except OSError as exc:
            with contextlib.suppress(OSError):  # stderr is a file on the same full disk
                print(
                    f"qrun monitor: cannot record the exit yet ({exc}); retrying", file=sys.stderr, flush=True
                )
            time.sleep(delay)
            delay = min(delay * 2, 5.0)


def main(run_dir: str) -> int:
    root = Path(run_dir)
    # Claim the run before anything starts: monitor.json is created exactly once, by this
    # monitor or by an adopter that found no monitor and gave the run up. Either way, what
    # an adopter needs is on disk before the command can start (no run starts unseen).
    me = identify(os.getpid())
    if not create_once(root / "monitor.json", {"ref": me.ref() if me else None}):
        return 0  # given up meanwhile: start nothing
    crash = crashpoints.from_env()
    spec = json.loads((root / "spec.json").read_text())
    stopping: dict[str, int | None] = {"signal": None}
    child: subprocess.Popen[bytes] | None = None

    def forward(signum: int, frame: object) -> None:
        stopping["signal"] = signum
        if child is not None:
            _kill_group(child.pid, signal.SIGTERM)

    # Before the command starts: a stop asked for meanwhile is kept, not the monitor's death
    # (which would leave a command nobody stops).
    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    crash("monitor.claimed")
    if stopping["signal"] is not None:
        record_exit(root, {"code": -stopping["signal"], "at": time.time(), "killed": True})
        return 0
    child = _start(root, spec)
    if child is None:
        return 0
    if stopping["signal"] is not None:  # asked while it was starting
        _kill_group(child.pid, signal.SIGTERM)
    crash("monitor.started")
    deadline = time.monotonic() + spec["timeout_s"] if spec.get("timeout_s") else None
    timed_out = False
    term_sent_at: float | None = None
    while True:
        try:
            code = child.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            pass
        now = time.monotonic()
        if deadline is not None and now >= deadline and not timed_out:
            timed_out = True
            _kill_group(child.pid, signal.SIGTERM)
            term_sent_at = now
        if stopping["signal"] is not None and term_sent_at is None:
            term_sent_at = now
        if term_sent_at is not None and now - term_sent_at > KILL_GRACE_S:
            _kill_group(child.pid, signal.SIGKILL)
    crash("monitor.exited")
    record: dict[str, Any] = {"code": code, "at": time.time(), "timed_out": timed_out}
    if stopping["signal"] is not None:
        record["killed"] = True
    record_exit(root, record)
    return 0


def _start(root: Path, spec: dict[str, Any]) -> subprocess.Popen[bytes] | None:
    """The command, started; or None, its failure to start recorded as its exit."""
    with open_private(root / "stdout", "ab") as out, open_private(root / "stderr", "ab") as err:
        try:
            return subprocess.Popen(
                spec["argv"],
                cwd=spec.get("cwd"),
                env=spec.get("env"),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own group: a kill reaches its children too
                # Who the command is (pid, start time, boot), written by the command's own
                # process before it becomes the command: if this monitor dies at any moment,
                # the command is still watched, adopted or stopped, never started twice.
                preexec_fn=partial(_record_self, root / "child.json"),  # noqa: PLW1509 - no threads here
            )
        except (OSError, subprocess.SubprocessError) as exc:
            record = {"code": 127, "error": f"could not start: {exc}", "at": time.time()}
            record_exit(root, record)
            return None


def _record_self(path: Path) -> None:
    """Runs in the forked child before exec: it names itself. (The monitor has no threads,
    so a function here is safe.) A failure, a full disk say, stops the command unstarted."""
    me = identify(os.getpid())
    if me is None:
        raise OSError("cannot read the command's own process identity")
    write_atomic(path, {"ref": me.ref()})


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
