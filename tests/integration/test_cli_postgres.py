"""The daemon end to end on PostgreSQL, through the `qrun` command."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.postgres
QRUN = [sys.executable, "-m", "qrun.bootstrap.cli"]


def test_migrate_submit_serve_kill_restart_on_postgres(tmp_path, postgres_url, pg_schemas):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_") or k.startswith("QRUN_TEST_")}
    env.update(
        QRUN_DATABASE_URL=postgres_url, QRUN_SCHEMA=pg_schemas(), QRUN_POLL_S="0.05", QRUN_HTTP_PORT="0"
    )

    def qrun(*args, check=True):
        done = subprocess.run(
            [*QRUN, *args], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )
        assert not check or done.returncode == 0, done.stderr
        return done

    def status(job_id):
        return json.loads(qrun("show", job_id, "--json").stdout)["status"]

    def wait_for(check, what):
        deadline = time.monotonic() + 60
        while not check():
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.02)

    def wait_status(job_id, want):
        deadline = time.monotonic() + 30
        while status(job_id) != want:
            assert time.monotonic() < deadline, f"{job_id} never became {want}"
            time.sleep(0.1)

    missing = qrun("ls", check=False)
    assert missing.returncode == 1 and "qrun migrate" in missing.stderr  # never created silently
    qrun("migrate")
    marker, go = tmp_path / "ran", tmp_path / "go"
    # The command runs until the test says so, so the daemon dies while it runs, however
    # loaded the machine is.
    job_id = qrun(
        "submit",
        "--shell",
        "--",
        f"echo a >> {marker}; until [ -e {go} ]; do sleep 0.05; done; echo b >> {marker}",
    ).stdout.strip()
    first = subprocess.Popen(
        [*QRUN, "serve", "--name", "pg"], cwd=tmp_path, env=env, stderr=subprocess.DEVNULL
    )
    wait_for(lambda: marker.exists() and marker.read_text() == "a\n", "the command to start")
    first.kill()
    first.wait()
    second = subprocess.Popen(
        [*QRUN, "serve", "--name", "pg"], cwd=tmp_path, env=env, stderr=subprocess.DEVNULL
    )
    try:
        go.touch()
        wait_status(job_id, "done")
        # R-G1: while it lives, no other daemon can take its name, from any host.
        third = qrun("serve", "--name", "pg", check=False)
        assert third.returncode == 1 and "a daemon named 'pg' is running on schema" in third.stderr
    finally:
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    assert marker.read_text() == "a\nb\n"
    job = json.loads(qrun("show", job_id, "--json").stdout)
    assert (job["attempts"], job["adoptions"]) == (1, 1)
