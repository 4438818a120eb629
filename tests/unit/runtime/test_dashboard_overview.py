"""The dashboard's overview counts what the store counts: every job that ended in the
last five minutes, however many and whenever they were submitted."""

from datetime import timedelta

from fastapi.testclient import TestClient

from qrun.adapters.memory import MemoryStore
from qrun.bootstrap.config import load
from qrun.bootstrap.http import create_api
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.wiring import bootstrap
from qrun.contract.builders import T0, new_job, ok
from qrun.core import Claim, Failed, Finished, Handle, Policy, Spawned
from qrun.core.claim import run_id_for


def _end(store, job, event, at):
    """Claimed, spawned and ended at `at`, each step through `decide`."""
    claim = ok(job, Claim("w", run_id_for(job), at + timedelta(seconds=30)), at)
    store.apply(claim)
    spawn = ok(claim.job, Spawned(Handle("subprocess", "1:1")), at)
    store.apply(spawn)
    store.apply(ok(spawn.job, event, at, Policy()))


def test_the_overview_counts_every_job_ended_in_the_last_five_minutes(tmp_path):
    clock, store = FakeClock(T0 + timedelta(days=1)), MemoryStore()
    app = bootstrap(load(env={}, runs_dir=str(tmp_path / "runs")), store=store, clock=clock)
    now = clock.now()
    old = [new_job(now=T0) for _ in range(2500)]  # submitted long ago: listing by age missed them
    fresh = [new_job(now=now - timedelta(minutes=10)) for _ in range(3)]
    store.submit(old + fresh)
    for job in old:
        _end(store, job, Finished(None), now - timedelta(minutes=1))
    _end(store, fresh[0], Failed("boom", final=True), now - timedelta(minutes=2))
    _end(store, fresh[1], Finished(None), now - timedelta(minutes=6))  # before the window
    page = TestClient(create_api(app, token=None)).get("/").text
    assert "2500 done, 1 failed" in page


def test_a_serving_daemon_is_listed_with_its_slots_until_it_stops(tmp_path):
    """R-F4: each daemon reports itself every reaper tick; the overview and GET /daemons
    list every live daemon on the database, and a daemon that stops is gone at once."""
    import socket
    import threading
    import time

    store = MemoryStore()
    config = load(env={}, runs_dir=str(tmp_path / "runs"), http_port=0, slots=5, queues=["mail"])
    app = bootstrap(config, store=store)
    stop = threading.Event()
    serving = threading.Thread(target=app.serve, args=(stop,), kwargs={"handle_signals": False})
    serving.start()
    try:
        deadline = time.monotonic() + 60
        while not app.daemons() and time.monotonic() < deadline:
            time.sleep(0.01)
        [listed] = TestClient(create_api(app, token=None)).get("/daemons").json()
        assert (listed["id"], listed["host"], listed["slots"], listed["queues"]) == (
            app.worker.id,
            socket.gethostname(),
            5,
            ["mail"],
        )
        page = TestClient(create_api(app, token=None)).get("/").text
        assert "Live daemons on every host" in page and "0 of 5" in page
    finally:
        stop.set()
        serving.join(60)
    assert not serving.is_alive() and app.daemons() == []
