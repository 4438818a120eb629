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
from pathlib import Path
from typing import Any

from qrun.adapters.runners.procs import identify

KILL_GRACE_S = 5.0


def write_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)


def main(run_dir: str) -> int:
    root = Path(run_dir)
    # Claim the run before anything starts: monitor.json is created exactly once, by this
    # monitor or by an adopter that found no monitor and gave the run up. Either way, what
    # an adopter needs is on disk before the command can start (no run starts unseen).
    try:
        fd = os.open(root / "monitor.json", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return 0  # given up meanwhile: start nothing
    me = identify(os.getpid())
    os.write(fd, json.dumps({"ref": me.ref() if me else None}).encode())
    os.close(fd)
    spec = json.loads((root / "spec.json").read_text())
    stopping: dict[str, int | None] = {"signal": None}

    with open(root / "stdout", "ab") as out, open(root / "stderr", "ab") as err:
        try:
            child = subprocess.Popen(
                spec["argv"],
                cwd=spec.get("cwd"),
                env=spec.get("env"),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                start_new_session=True,  # its own group: a kill reaches its children too
            )
        except OSError as exc:
            write_atomic(
                root / "exit.json", {"code": 127, "error": f"could not start: {exc}", "at": time.time()}
            )
            return 0
    # Who the command is (pid, start time, boot), so that if this monitor dies the command
    # can still be watched, adopted or stopped instead of being started a second time.
    who = identify(child.pid)
    if who is not None:
        write_atomic(root / "child.json", {"ref": who.ref()})

    def forward(signum: int, frame: object) -> None:
        stopping["signal"] = signum
        _kill_group(child.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
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
    record: dict[str, Any] = {"code": code, "at": time.time(), "timed_out": timed_out}
    if stopping["signal"] is not None:
        record["killed"] = True
    write_atomic(root / "exit.json", record)
    return 0


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
