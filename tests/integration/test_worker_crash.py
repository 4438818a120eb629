"""A worker process is killed with SIGKILL mid-job. After its lease expires a new worker
adopts the still-running command, and the job ends exactly once: done, one attempt, one
adoption, the command's side effect written once (R-A6, R-B11, R-G4)."""

import pathlib
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import pytest
from processes import open_store

from qrun.adapters.runners.subprocess_runner import SubprocessRunner
from qrun.bootstrap.runtime.worker import Worker, WorkerSettings
from qrun.core import Job, Status

WORKER = pathlib.Path(__file__).with_name("worker_proc.py")


@pytest.fixture(params=["sqlite", "postgres"])
def target(request, tmp_path):
    if request.param == "sqlite":
        from qrun.adapters.sqlite import SqliteStore

        path = tmp_path / "q.db"
        SqliteStore.migrate(path)
        return "sqlite", str(path)
    from qrun.adapters.postgres import PostgresStore

    url = request.getfixturevalue("postgres_url")
    schema = request.getfixturevalue("pg_schemas")()
    PostgresStore.migrate(url, schema=schema)
    return "postgres", f"{url}#{schema}"


def wait_for(predicate, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("timed out waiting")


@pytest.mark.slow
def test_a_killed_workers_running_command_is_adopted_and_ends_exactly_once(target, tmp_path):
    kind, where = target
    store = open_store(kind, where)
    runs, marker = tmp_path / "runs", tmp_path / "side-effect"
    job = Job.new(
        id="survivor",
        kind="command",
        now=datetime.now(UTC),
        payload={"shell": f"echo started >> {marker}; sleep 2; echo finished >> {marker}"},
    )
    store.submit([job])
    crashy = subprocess.Popen(
        [sys.executable, str(WORKER), kind, where, str(runs), "1.5"], stdout=subprocess.PIPE
    )
    try:
        wait_for(lambda: (j := store.get(job.id)).run is not None and j.run.handle is not None)
    finally:
        crashy.kill()  # SIGKILL: no chance to clean up or release anything
        crashy.wait()
    assert store.get(job.id).status is Status.RUNNING

    wait_for(lambda: store.sweep_stale_leases(datetime.now(UTC)) > 0 or store.get(job.id).adoptable)
    heir = Worker(
        store,
        {"command": SubprocessRunner(runs)},
        settings=WorkerSettings(name="heir", lease_s=5, poll_s=0.05),
    )
    stop = threading.Event()
    thread = threading.Thread(target=heir.run, args=(stop,))
    thread.start()
    try:
        wait_for(lambda: store.get(job.id).status.terminal)
    finally:
        stop.set()
        thread.join()
    done = store.get(job.id)
    assert done.status is Status.DONE
    assert (done.attempts, done.adoptions) == (1, 1)
    assert marker.read_text() == "started\nfinished\n"  # ran once: adopted, not re-run
    store.close()
