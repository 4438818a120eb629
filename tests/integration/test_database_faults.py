"""Database faults as real as kill -9 (R-H2, issue 28): the tests start their own
PostgreSQL cluster and stop it under a daemon. Each waits on events (a log line, a row,
the daemon's exit), never on a sleep."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime

import psycopg
import pytest
from pg_cluster import Cluster

QRUN = [sys.executable, "-m", "qrun.bootstrap.cli"]
pytestmark = pytest.mark.postgres


@pytest.fixture(name="cluster")
def _cluster():
    made = Cluster()
    made.start()
    yield made
    made.destroy()


def env_for(url):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_")}
    env.update(QRUN_DATABASE_URL=url, QRUN_POLL_S="0.05", QRUN_HTTP_PORT="0", QRUN_CONNECT_TIMEOUT_S="2")
    return env


def qrun(env, cwd, *args):
    done = subprocess.run(
        [*QRUN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def wait_for(check, what, proc, timeout_s=120):
    deadline = time.monotonic() + timeout_s
    while not check():
        assert proc.poll() is None, f"the daemon exited ({proc.returncode}) before {what}"
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.05)


def status(url, job_id):
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            row = conn.execute("SELECT status FROM qrun.jobs WHERE id = %s", (job_id,)).fetchone()
            return row[0] if row else None
    except psycopg.OperationalError:
        return None


def test_r_h2_a_daemon_started_while_the_database_is_down_waits_for_it_and_serves(cluster, tmp_path):
    env = env_for(cluster.url)
    qrun(env, tmp_path, "migrate")
    job = qrun(env, tmp_path, "submit", "--", "true")
    cluster.stop()
    log = tmp_path / "daemon.log"
    with open(log, "w") as err:
        daemon = subprocess.Popen([*QRUN, "serve", "--name", "patient"], cwd=tmp_path, env=env, stderr=err)
    try:
        # Two waits said: it keeps waiting, it did not try once and die.
        wait_for(lambda: log.read_text().count("waiting for the database") >= 2, "it waited", daemon)
        down_for = time.monotonic()
        cluster.start()
        wait_for(lambda: status(cluster.url, job) == "done", "the job ran", daemon)
        print(f"job done {time.monotonic() - down_for:.1f}s after the server came up")
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(60) == 0, log.read_text()
    said = log.read_text()
    assert "opening the database failed: cannot connect to PostgreSQL" in said
    assert "Traceback" not in said


def test_r_h2_a_bounded_wait_ends_start_up_naming_the_database(cluster, tmp_path):
    env = {**env_for(cluster.url), "QRUN_STARTUP_WAIT_S": "3"}
    qrun(env, tmp_path, "migrate")
    cluster.stop()
    started = time.monotonic()
    done = subprocess.run(
        [*QRUN, "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1 and time.monotonic() - started < 60
    assert "waiting for the database" in done.stderr
    assert "cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1" in done.stderr


def test_r_h2_a_schema_of_another_version_ends_start_up_at_once(cluster, tmp_path):
    env = env_for(cluster.url)  # never migrated: a configuration error, not an outage
    done = subprocess.run(
        [*QRUN, "serve"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 1 and "waiting for the database" not in done.stderr
    assert "qrun migrate" in done.stderr


# -- faults under load: named daemons, short and long commands ------------------------------

LOAD_ENV = {"QRUN_LEASE_S": "6", "QRUN_REAPER_INTERVAL_S": "1", "QRUN_SLOTS": "4"}


def submit_commands(url, ledger, jobs):
    """`jobs`: (id, seconds) pairs. Each command writes a start and an end line to `ledger`
    (appends of one short line: atomic), so a second start of a job shows."""
    from qrun.adapters.postgres import PostgresStore
    from qrun.core import Job

    store = PostgresStore(url)
    now = datetime.now(UTC)
    line = f'echo "start $QRUN_JOB_ID" >> {ledger}; sleep {{s}}; echo "end $QRUN_JOB_ID" >> {ledger}'
    store.submit(
        [Job.new(id=j, kind="command", now=now, payload={"shell": line.format(s=s)}) for j, s in jobs]
    )
    store.close()


def counts(url):
    try:
        with psycopg.connect(url, connect_timeout=2) as conn:
            return dict(conn.execute("SELECT status, count(*) FROM qrun.jobs GROUP BY status").fetchall())
    except psycopg.OperationalError:
        return None


def start_daemon(env, cwd, name):
    log = cwd / f"{name}.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([*QRUN, "serve", "--name", name], cwd=cwd, env=env, stderr=err)
    return proc, log


def refused(env, cwd, name):
    """A second `qrun serve --name NAME` is refused at once, naming the name."""
    done = subprocess.run(
        [*QRUN, "serve", "--name", name],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done.returncode == 1 and f"a daemon named {name!r} is running" in done.stderr


def ran_once_each(ledger, ids):
    lines = ledger.read_text().split("\n")
    for job_id in ids:
        assert lines.count(f"start {job_id}") == 1, f"{job_id} started {lines.count(f'start {job_id}')} times"
        assert lines.count(f"end {job_id}") == 1, f"{job_id} ended {lines.count(f'end {job_id}')} times"


def named_daemons(cluster, tmp_path, names, jobs=(), **settings):
    """A migrated cluster, `jobs` submitted, one `qrun serve --name NAME` per name:
    (their environment, the jobs' ledger, [(process, log)])."""
    env = {**env_for(cluster.url), **LOAD_ENV, **settings}
    qrun(env, tmp_path, "migrate")
    ledger = tmp_path / "ledger"
    if jobs:
        submit_commands(cluster.url, ledger, jobs)
    return env, ledger, [start_daemon(env, tmp_path, name) for name in names]


def stop_all(daemons):
    for proc, _log in daemons:
        proc.send_signal(signal.SIGTERM)
    for proc, log in daemons:
        assert proc.wait(90) == 0, log.read_text()[-3000:]


def test_r_g1_a_server_restart_under_three_named_daemons_loses_nothing_and_keeps_the_names(cluster, tmp_path):
    jobs = [(f"short-{i}", 0.3) for i in range(40)] + [(f"long-{i}", 8) for i in range(6)]
    env, ledger, daemons = named_daemons(cluster, tmp_path, ["d1", "d2", "d3"], jobs)
    try:
        running_long = "SELECT count(*) FROM qrun.jobs WHERE status = 'running' AND id LIKE 'long-%%'"

        def long_ones_run():
            with psycopg.connect(cluster.url) as conn:
                return conn.execute(running_long).fetchone()[0] >= 3

        wait_for(long_ones_run, "long commands running", daemons[0][0])
        assert refused(env, tmp_path, "d1"), "a live daemon's name was given to another before the restart"
        before = counts(cluster.url).get("done", 0)
        cluster.restart("fast")
        up = time.monotonic()
        for proc, log in daemons:  # each notices, and holds its name again
            wait_for(lambda log=log: "holding the name d" in log.read_text(), "the name held again", proc)
        wait_for(lambda: (counts(cluster.url) or {}).get("done", 0) > before, "a job ended", daemons[0][0])
        print(f"first job done {time.monotonic() - up:.1f}s after the restart")
        assert refused(env, tmp_path, "d1"), "a live daemon's name was given to another after the restart"
        wait_for(lambda: counts(cluster.url) == {"done": len(jobs)}, "every job done", daemons[0][0], 240)
        print(f"every job done {time.monotonic() - up:.1f}s after the restart")
        assert all(proc.poll() is None for proc, _ in daemons), "a daemon died"
    finally:
        stop_all(daemons)
    ran_once_each(ledger, [j for j, _ in jobs])
    for _proc, log in daemons:
        assert "Traceback" not in log.read_text(), log.read_text()[-6000:]


def test_r_g1_backends_terminated_twice_a_second_lose_nothing_and_run_nothing_twice(cluster, tmp_path):
    jobs = [(f"j-{i}", 0.2) for i in range(60)] + [(f"long-{i}", 6) for i in range(4)]
    env, ledger, daemons = named_daemons(cluster, tmp_path, ["t1", "t2"], jobs)
    ended = 0
    try:
        wait_for(lambda: (counts(cluster.url) or {}).get("running", 0) >= 4, "jobs running", daemons[0][0])
        with psycopg.connect(cluster.url, autocommit=True, application_name="qrun-fault-test") as killer:
            for _ in range(40):  # 20 s
                ended += killer.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
                    "AND application_name <> 'qrun-fault-test'"
                ).fetchone()[0]
                time.sleep(0.5)  # the fault's rate, not a wait for an outcome
        print(f"terminated {ended} backends in 20 s")
        wait_for(lambda: counts(cluster.url) == {"done": len(jobs)}, "every job done", daemons[0][0], 240)
        for proc, log in daemons:
            wait_for(lambda log=log: "holding the name t" in log.read_text(), "the name held again", proc)
        for name in ("t1", "t2"):
            assert refused(env, tmp_path, name), f"{name} is free under its live daemon"
        assert all(proc.poll() is None for proc, _ in daemons), "a daemon died"
    finally:
        stop_all(daemons)
    assert ended >= 40
    ran_once_each(ledger, [j for j, _ in jobs])


def done_between(url, start, end):
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT count(*) FROM qrun.jobs WHERE status = 'done' AND finished_at >= %s AND finished_at < %s",
            (start, end),
        ).fetchone()[0]


def test_r_h2_an_idle_transaction_holding_the_xmin_horizon_for_60s_fails_nothing(cluster, tmp_path):
    _env, ledger, [daemon] = named_daemons(cluster, tmp_path, ["x1"], QRUN_SLOTS="8")
    submitted = []
    stop = threading.Event()

    def feed():  # a steady backlog: throughput is what the daemon can do, not the feed
        n = 0
        while not stop.is_set():
            if (counts(cluster.url) or {}).get("queued", 0) < 200:
                batch = [(f"x-{n + i}", 0) for i in range(100)]
                submit_commands(cluster.url, ledger, batch)
                submitted.extend(j for j, _ in batch)
                n += 100
            stop.wait(0.2)

    feeder = threading.Thread(target=feed, daemon=True)
    feeder.start()
    windows = {}
    try:
        wait_for(lambda: (counts(cluster.url) or {}).get("done", 0) >= 50, "jobs ran", daemon[0])
        t0 = datetime.now(UTC)
        stop.wait(10)  # the windows are the measurement: 10 s before, 60 s held, 10 s after
        t1 = datetime.now(UTC)
        with psycopg.connect(cluster.url) as holder:  # REPEATABLE READ: one snapshot, held idle
            holder.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
            holder.execute("SELECT count(*) FROM qrun.jobs").fetchone()
            stop.wait(60)
            t2 = datetime.now(UTC)
            holder.rollback()
        stop.wait(10)
        t3 = datetime.now(UTC)
        stop.set()
        feeder.join(30)
        for name, (a, b) in {"before": (t0, t1), "during": (t1, t2), "after": (t2, t3)}.items():
            windows[name] = done_between(cluster.url, a, b) / (b - a).total_seconds()
        print("jobs/s " + ", ".join(f"{k} {v:.1f}" for k, v in windows.items()))
        wait_for(lambda: counts(cluster.url) == {"done": len(submitted)}, "every job done", daemon[0], 240)
        assert daemon[0].poll() is None, "the daemon died"
    finally:
        stop.set()
        stop_all([daemon])
    assert all(rate > 0 for rate in windows.values()), windows
    ran_once_each(ledger, submitted)
