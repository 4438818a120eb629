"""R-F1, R-F3, R-F6 end to end through real `qrun` processes: two daemons firing one
schedule, cancelling a running command, pause/resume, unique submit."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest

QRUN = [sys.executable, "-m", "qrun.bootstrap.cli"]
EVERY_SECOND = {"cron": "* * * * *", "seconds": "*"}


def qrun_env(**settings):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_") or k.startswith("QRUN_TEST_")}
    env.update(QRUN_POLL_S="0.05", QRUN_REAPER_INTERVAL_S="0.5", QRUN_HTTP_PORT="0", **settings)
    return env


def run(cwd, env, *args):
    done = subprocess.run(
        [*QRUN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def jobs(cwd, env):
    return json.loads(run(cwd, env, "ls", "--json", "--limit", "10000"))


def wait_for(predicate, timeout_s=30, what="condition"):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def two_daemons_fire_one_schedule(tmp_path, env):
    env = {**env, "QRUN_SCHEDULES": json.dumps({"tick": {**EVERY_SECOND, "argv": ["true"]}})}
    daemons = [
        subprocess.Popen(
            [*QRUN, "serve", "--name", f"d{i}"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
        )
        for i in range(2)
    ]
    try:
        wait_for(lambda: len(jobs(tmp_path, env)) >= 4, what="four fired slots")
    finally:
        for d in daemons:
            d.send_signal(signal.SIGTERM)
        logs = [d.communicate(timeout=30)[1] for d in daemons]
    fired = jobs(tmp_path, env)
    slots = [datetime.fromisoformat(j["requested_at"]) for j in fired]
    assert len(slots) == len(set(slots)), "a slot fired twice"
    assert all(j["id"].startswith("cron-tick-") for j in fired)
    assert all(j["unique"]["key"].startswith("cron:tick:") for j in fired)
    for log in logs:
        assert "could not fire" not in log, log  # no daemon even tried a second insert and failed


def test_r_f6_two_daemons_never_fire_a_slot_twice_on_sqlite(tmp_path):
    env = qrun_env()
    run(tmp_path, env, "migrate")
    two_daemons_fire_one_schedule(tmp_path, env)


@pytest.mark.postgres
def test_r_f6_two_daemons_never_fire_a_slot_twice_on_postgres(tmp_path, postgres_url, pg_schemas):
    env = qrun_env(QRUN_DATABASE_URL=postgres_url, QRUN_SCHEMA=pg_schemas())
    run(tmp_path, env, "migrate")
    two_daemons_fire_one_schedule(tmp_path, env)


def test_r_f1_cancel_a_running_command_through_the_cli(tmp_path):
    """The runner is asked to stop the execution; the job ends `cancelled` without
    waiting for the command, and its process is gone."""
    env = qrun_env()
    marker = tmp_path / "finished"
    job_id = run(tmp_path, env, "submit", "--shell", "--", f"sleep 30; touch {marker}").strip()
    daemon = subprocess.Popen([*QRUN, "serve"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        show = lambda: json.loads(run(tmp_path, env, "show", job_id, "--json"))  # noqa: E731
        wait_for(lambda: show()["run"] and show()["run"]["handle"], what="the command to start")
        started = time.monotonic()
        said = subprocess.run(
            [*QRUN, "cancel", job_id],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stderr
        assert f"{job_id} stopping: its run is being killed" in said  # not "running", as if nothing happened
        wait_for(lambda: show()["status"] == "cancelled", what="the job to end cancelled")
        assert time.monotonic() - started < 15
        job = show()
        assert job["lease"] is None and job["cancel_requested"] is True
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=30)
    time.sleep(0.5)
    assert not marker.exists()


def test_r_f3_a_paused_queue_holds_its_jobs_until_resumed_and_unique_submit(tmp_path):
    env = qrun_env()
    run(tmp_path, env, "migrate")
    run(tmp_path, env, "pause", "mail")
    held = run(tmp_path, env, "submit", "--queue", "mail", "--unique", "newsletter", "--", "true").strip()
    again = run(tmp_path, env, "submit", "--queue", "mail", "--unique", "newsletter", "--", "true").strip()
    assert again == held
    other = run(tmp_path, env, "submit", "--", "true").strip()
    assert "mail" in run(tmp_path, env, "queues") and "paused" in run(tmp_path, env, "queues")
    daemon = subprocess.Popen([*QRUN, "serve"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True)
    try:
        status = lambda i: json.loads(run(tmp_path, env, "show", i, "--json"))["status"]  # noqa: E731
        wait_for(lambda: status(other) == "done", what="the active queue's job")
        time.sleep(0.5)
        assert status(held) == "queued"
        run(tmp_path, env, "resume", "mail")
        wait_for(lambda: status(held) == "done", what="the resumed queue's job")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=30)
    assert json.loads(run(tmp_path, env, "queues", "--json"))["mail"] == {
        "paused": False,
        "counts": {"done": 1},
    }
    # Done outside the key's finished states: the key is free again.
    assert (
        run(tmp_path, env, "submit", "--queue", "mail", "--unique", "newsletter", "--", "true").strip()
        != held
    )
