"""Workflow sessions across real processes: at most one active session under many
concurrent starters (R-D6), and a session whose daemon is killed with SIGKILL resumes at
the right iteration with no event lost or consumed twice (R-D8)."""

import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from qrun.bootstrap.runtime.clock import SystemClock
from qrun.bootstrap.runtime.workflows import start_session
from qrun.core.ports import JobFilter
from qrun.core.topics import EventStatus
from qrun.core.workflow import SESSION_KIND, Trigger

PROC = Path(__file__).parent / "workflow_proc.py"


def sessions(store):
    return store.list(JobFilter(kind=SESSION_KIND, limit=1000))


@pytest.mark.postgres
def test_r_d6_many_concurrent_starters_make_one_session_on_postgres(postgres_url, pg_schemas):
    from qrun.adapters.postgres import PostgresStore

    schema = pg_schemas()
    PostgresStore.migrate(postgres_url, schema=schema)
    store = PostgresStore(postgres_url, schema=schema, max_size=16)
    barrier, got = threading.Barrier(16), []

    def start():
        barrier.wait()
        got.append(start_session(store, SystemClock(), "etl", Trigger.MANUAL))

    threads = [threading.Thread(target=start) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 16 and len(set(got)) == 1
    assert [j.id for j in sessions(store)] == got[:1]
    store.close()


def test_r_d6_concurrent_starters_in_separate_processes_make_one_session_on_sqlite(tmp_path):
    from qrun.adapters.sqlite import SqliteStore

    db = tmp_path / "q.db"
    SqliteStore.migrate(db, prefix="qrun_")
    procs = [
        subprocess.Popen(
            [sys.executable, str(PROC), "start", str(db), "qrun"], stdout=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    ids = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert len(set(ids)) == 1
    store = SqliteStore(db, prefix="qrun_")
    assert [j.id for j in sessions(store)] == ids[:1]


def _crash_and_resume(tmp_path, url, schema, store):
    log = tmp_path / "handlers.log"
    serve = [sys.executable, str(PROC), "serve", url, schema, str(log), str(tmp_path / "state")]
    first = subprocess.Popen(serve, stderr=subprocess.PIPE, text=True)
    try:
        sid = subprocess.run(
            [sys.executable, str(PROC), "start", url, schema],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            lines = [json.loads(x) for x in log.read_text().splitlines()] if log.exists() else []
            if any(x["handler"] == "slow" and x["iteration"] == 2 for x in lines):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the session never reached iteration 2")
        first.send_signal(signal.SIGKILL)  # in the middle of iteration 2's handler
        first.wait(timeout=30)
        second = subprocess.Popen(serve, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not store.get(sid).status.terminal:
                time.sleep(0.1)
        finally:
            second.send_signal(signal.SIGTERM)
            err = second.communicate(timeout=60)[1]
    finally:
        if first.poll() is None:
            first.kill()
    job = store.get(sid)
    assert job.status.value == "done", err[-3000:]
    runs = store.handler_runs(sid)
    lines = [json.loads(x) for x in log.read_text().splitlines()]
    assert [x["handler"] for x in lines].count("seed") == 1  # producers were not run again
    iterations = [x["iteration"] for x in lines if x["handler"] == "slow"]
    assert iterations == [1, 2, 2, 3], iterations  # iteration 2 resumed, not restarted at 1
    resumed = [x["events"] for x in lines if x["handler"] == "slow" and x["iteration"] == 2]
    assert resumed[0] == resumed[1]  # it took up the very events it had prepared
    events = store.events("rows")
    assert len(events) == 6 and {e.status for e in events} == {EventStatus.CONSUMED}  # none lost
    handled = Counter(n for x in lines if x["handler"] == "slow" for n in x["events"])
    assert sorted(handled) == list(range(6))
    assert [(r.iteration, r.handler) for r in runs] == [(0, "seed"), (1, "slow"), (2, "slow"), (3, "slow")]
    assert job.result["cost"] == 3 and job.attempts == 2 and job.result["iterations"] == 3


def test_r_d8_a_killed_daemons_session_resumes_at_the_right_iteration_on_sqlite(tmp_path):
    from qrun.adapters.sqlite import SqliteStore

    db = tmp_path / "q.db"
    SqliteStore.migrate(db, prefix="qrun_")
    _crash_and_resume(tmp_path, str(db), "qrun", SqliteStore(db, prefix="qrun_"))


@pytest.mark.postgres
def test_r_d8_a_killed_daemons_session_resumes_at_the_right_iteration_on_postgres(
    tmp_path, postgres_url, pg_schemas
):
    from qrun.adapters.postgres import PostgresStore

    schema = pg_schemas()
    PostgresStore.migrate(postgres_url, schema=schema)
    _crash_and_resume(tmp_path, postgres_url, schema, PostgresStore(postgres_url, schema=schema))
