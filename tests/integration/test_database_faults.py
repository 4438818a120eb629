"""Database faults as real as kill -9 (R-H2, issue 28): the tests start their own
PostgreSQL cluster and stop it under a daemon. Each waits on events (a log line, a row,
the daemon's exit), never on a sleep."""

import os
import signal
import subprocess
import sys
import time

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
