"""Daemons killed at crash points (adapters/crashpoints) and the runs they leave, for the
crash-point integration tests: waits on files and rows, never on a sleep."""

import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

from qrun.core import Job

QRUN = [sys.executable, "-m", "qrun.bootstrap.cli"]


class World:
    def __init__(self, root, env, store):
        self.root, self.env, self.store = root, env, store
        self.marker, self.go = root / "ran", root / "go"
        self.daemons: list[subprocess.Popen] = []

    def submit(self, kind: str = "command", **payload: object) -> str:
        """By default a command that logs its start and end, and ends only once `go` exists."""
        if not payload:
            m, go = self.marker, self.go
            payload = {
                "shell": f'echo "start $QRUN_RUN_ID" >> {m}; until [ -e {go} ]; do sleep 0.02; done; '
                f'echo "end $QRUN_RUN_ID" >> {m}'
            }
        job = Job.new(id="j", kind=kind, now=datetime.now(UTC), payload=payload)
        self.store.submit([job])
        return job.id

    def serve(self, name: str, crash_at: str | None = None, **settings: str) -> subprocess.Popen:
        env = {**self.env, **settings}
        if crash_at is not None:
            env.update(QRUN_TEST_CRASH_AT=crash_at, QRUN_TEST_CRASH_ONCE=str(self.root / "crashed"))
        daemon = subprocess.Popen(
            [*QRUN, "serve", "--name", name], cwd=self.root, env=env, stderr=subprocess.DEVNULL
        )
        self.daemons.append(daemon)
        return daemon

    def orphan(self, job_id: str, name: str) -> None:
        """A daemon named `name` starts the job's command, stamps its handle, and is killed
        with SIGKILL. (The command can start before the stamp lands: killed in between,
        the run has no handle to reap by and is adopted once the lease ends instead.)"""
        first = self.serve(name)
        self.wait(lambda: self.lines() == [f"start {job_id}/2"], "the command to start")
        self.wait(lambda: self._stamped(job_id), "the run's handle to be stamped")
        first.kill()
        first.wait()

    def _stamped(self, job_id: str) -> bool:
        job = self.store.get(job_id)
        return job is not None and job.run is not None and job.run.handle is not None

    def lines(self) -> list[str]:
        return self.marker.read_text().splitlines() if self.marker.exists() else []

    def wait(self, check, what: str, timeout_s: float = 90.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}; ran: {self.lines()}"
            time.sleep(0.02)

    def killed_itself(self, daemon: subprocess.Popen) -> None:
        self.wait(lambda: daemon.poll() is not None, "the daemon to die at its crash point")
        assert daemon.returncode == -signal.SIGKILL

    def done(self, job_id: str) -> Job:
        self.wait(lambda: self.store.get(job_id).status.terminal, f"job {job_id} to end")
        return self.store.get(job_id)

    def stop_all(self) -> None:
        for d in self.daemons:
            if d.poll() is None:
                d.send_signal(signal.SIGTERM)
        for d in self.daemons:
            try:
                d.wait(30)
            except subprocess.TimeoutExpired:
                d.kill()
                d.wait()


def runs(lines: list[str]) -> list[str]:
    """The runs in the order they started, checking that none overlapped another."""
    started, live = [], None
    for line in lines:
        what, run = line.split()
        if what == "start":
            assert live is None, f"{run} started while {live} ran: {lines}"
            started.append(run)
            live = run
        else:
            assert live == run, f"{run} ended but {live} was the one running: {lines}"
            live = None
    return started
