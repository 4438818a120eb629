"""The daemon end to end through the `qrun` command, as a shell user drives it."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

QRUN = [sys.executable, "-m", "qrun.bootstrap.cli"]


@pytest.fixture(name="qrun")
def _qrun(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_") or k.startswith("QRUN_TEST_")}
    env.update(
        QRUN_POLL_S="0.05", QRUN_REAPER_INTERVAL_S="0.5", QRUN_DRAIN_TIMEOUT_S="20", QRUN_HTTP_PORT="0"
    )

    def run(*args, check=True, extra_env=None):
        done = subprocess.run(
            [*QRUN, *args],
            cwd=tmp_path,
            env={**env, **(extra_env or {})},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,  # asserted below, with the command's stderr in the message
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def serve(*args, extra_env=None):
        return subprocess.Popen(
            [*QRUN, "serve", *args],
            cwd=tmp_path,
            env={**env, **(extra_env or {})},
            stderr=subprocess.PIPE,
            text=True,
        )

    run.serve = serve
    run.cwd = tmp_path
    return run


def status(qrun, job_id):
    return json.loads(qrun("show", job_id, "--json").stdout)["status"]


def stored(qrun, job_id):
    """The job as stored, read directly: a look costs milliseconds, not a process start."""
    from qrun.adapters.sqlite import SqliteStore

    store = SqliteStore(qrun.cwd / "qrun.db")
    try:
        return store.get(job_id)
    finally:
        store.close()


def wait_status(qrun, job_id, want, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if stored(qrun, job_id).status.value == want:
            return
        time.sleep(0.02)
    raise AssertionError(f"{job_id} never became {want}: {status(qrun, job_id)}")


def test_submit_prints_the_id_alone_and_serve_runs_it(qrun):
    job_id = qrun("submit", "--", "sh", "-c", "echo hi").stdout.strip()
    assert len(job_id) == 32 and "\n" not in job_id
    assert status(qrun, job_id) == "queued"
    daemon = qrun.serve()
    try:
        wait_status(qrun, job_id, "done")
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0
    listed = json.loads(qrun("ls", "--json").stdout)
    assert [j["id"] for j in listed] == [job_id]


def test_a_daemon_under_sigterm_lets_the_running_job_finish(qrun):
    """R-E4: SIGTERM stops claiming, and in-flight work completes before exit."""
    job_id = qrun("submit", "--shell", "--", "sleep 2; echo ok").stdout.strip()
    daemon = qrun.serve()
    wait_status(qrun, job_id, "running")
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(30) == 0
    assert status(qrun, job_id) == "done"


def test_a_killed_daemon_is_restarted_and_its_job_ends_exactly_once(qrun):
    """R-B11: the restarted daemon recovers its predecessor's job at once and adopts the
    still-running command; it ran once."""
    marker, go = qrun.cwd / "ran", qrun.cwd / "go"
    # The command runs until the test says so: the daemon dies while it runs, however
    # loaded the machine is.
    job_id = qrun(
        "submit",
        "--shell",
        "--",
        f"echo start >> {marker}; until [ -e {go} ]; do sleep 0.05; done; echo end >> {marker}",
    ).stdout.strip()
    first = qrun.serve("--name", "box")
    deadline = time.monotonic() + 60
    while not (marker.exists() and marker.read_text() == "start\n"):
        assert time.monotonic() < deadline, "the command never started"
        time.sleep(0.02)
    first.kill()
    first.wait()
    second = qrun.serve("--name", "box")
    try:
        go.touch()
        wait_status(qrun, job_id, "done")
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
    job = json.loads(qrun("show", job_id, "--json").stdout)
    assert (job["attempts"], job["adoptions"]) == (1, 1)
    assert marker.read_text() == "start\nend\n"


def test_r_g1_a_second_live_daemon_with_the_same_name_refuses_to_start(qrun):
    """Two live daemons with one name would take each other's jobs: the second refuses,
    naming the holder, and the first goes on."""
    job_id = qrun("submit", "--", "true").stdout.strip()
    first = qrun.serve("--name", "box")
    try:
        wait_status(qrun, job_id, "done")  # it is serving, so it holds the name
        second = qrun("serve", "--name", "box", check=False)
        assert second.returncode == 1, second.stderr
        assert f"a daemon named 'box' is running on qrun.db (pid {first.pid})" in second.stderr
        later = qrun("submit", "--", "true").stdout.strip()
        wait_status(qrun, later, "done")
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(30)


def test_commands_on_a_missing_database_say_how_to_create_it(qrun):
    done = qrun("ls", check=False, extra_env={"QRUN_DATABASE_URL": "elsewhere.db"})
    assert (
        done.returncode == 1
        and "no qrun schema in elsewhere.db" in done.stderr
        and "qrun migrate" in done.stderr
    )


def test_cancel_and_retry_say_why_they_cannot(qrun):
    job_id = qrun("submit", "--", "true").stdout.strip()
    missing = qrun("cancel", "nope", check=False)
    assert missing.returncode == 1 and "no job nope" in missing.stderr
    refused = qrun("retry", job_id, check=False)
    assert refused.returncode == 1 and "rejects Retry" in refused.stderr
    assert "Retry applies only to failed or cancelled jobs" in refused.stderr
    assert f"{job_id} cancelled" in qrun("cancel", job_id).stderr
    assert status(qrun, job_id) == "cancelled"
    assert f"{job_id} queued again, with fresh attempts" in qrun("retry", job_id).stderr
    assert status(qrun, job_id) == "queued"


def test_a_failed_dependency_cancels_its_dependent_and_a_waiting_one_says_why(qrun):
    parent = qrun("submit", "--max-attempts", "1", "--", "false").stdout.strip()
    child = qrun("submit", "--after", parent, "--", "true").stdout.strip()
    waiter = qrun("submit", "--after", parent, "--if-dependency-fails", "wait", "--", "true").stdout.strip()
    daemon = qrun.serve()
    try:
        wait_status(qrun, child, "cancelled")
        assert status(qrun, parent) == "failed"
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
    shown = qrun("show", child).stdout
    assert f"cancelled_for      {parent}" in shown
    assert f"DependencyEnded -> cancelled, attempt 0: {parent} failed" in shown
    assert shown.endswith(f"error\ndependency {parent} ended failed\n")
    again = qrun("retry", child)
    assert f"{child} cancelled: dependency {parent} ended failed; retry {parent} first" in again.stderr
    assert status(qrun, child) == "cancelled"
    waits = qrun("show", waiter).stdout
    assert f"waiting            it depends on {parent}, which ended failed: `qrun retry {parent}`" in waits
    said = json.loads(qrun("show", waiter, "--json").stdout)["waiting"]
    assert said[0].startswith(f"it depends on {parent}, which ended failed")
    assert "no daemon has reported lately" in said[-1]  # and none serves it now
    listed = qrun("ls").stdout
    row = next(line for line in listed.splitlines() if line.startswith(waiter))
    assert "queued*" in row and "waiting: it depends on" in row
    listed_json = {j["id"]: j["waiting"] for j in json.loads(qrun("ls", "--json").stdout)}
    assert listed_json[waiter] == said and listed_json[parent] == []
    assert f"{parent} queued again" in qrun("retry", parent).stderr
    assert status(qrun, child) == "queued"  # revived with its dependency


def test_submitting_a_task_no_one_can_run_is_refused_unless_forced(qrun):
    refused = qrun("submit", "--task", "typo", check=False)
    assert (
        refused.returncode == 1 and "no task named 'typo'" in refused.stderr and "--force" in refused.stderr
    )
    assert json.loads(qrun("ls", "--json").stdout) == []  # nothing was stored
    forced = qrun("submit", "--task", "typo", "--force").stdout.strip()
    assert status(qrun, forced) == "queued"


def test_bad_configuration_is_refused_with_the_setting_named(qrun):
    bad = qrun("ls", check=False, extra_env={"QRUN_SLOTS": "lots"})
    assert bad.returncode == 1 and "slots" in bad.stderr
    unknown = qrun("ls", check=False, extra_env={"QRUN_SLOST": "4"})
    assert unknown.returncode == 1 and "unknown setting QRUN_SLOST" in unknown.stderr


def test_submit_without_a_command_is_a_usage_error(qrun):
    done = qrun("submit", check=False)
    assert done.returncode == 2 and "give a COMMAND" in done.stderr


def test_the_daemon_serves_its_status_metrics_and_token_guarded_writes_over_http(qrun):
    import socket

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    daemon = qrun.serve(extra_env={"QRUN_HTTP_PORT": str(port), "QRUN_API_TOKEN": "t0ken"})
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the HTTP API never answered"
            time.sleep(0.1)
        body = {"kind": "command", "payload": {"argv": ["true"]}}
        assert httpx.post(f"{base}/jobs", json=body).status_code == 401
        job_id = httpx.post(f"{base}/jobs", json=body, headers={"Authorization": "Bearer t0ken"}).json()["id"]
        wait_status(qrun, job_id, "done")
        auth = {"Authorization": "Bearer t0ken"}
        assert httpx.get(f"{base}/queue").status_code == 401  # with a token set, reads need it too
        assert httpx.get(f"{base}/queue", headers=auth).json()["counts"] == {"default": {"done": 1}}
        assert (
            'qrun_jobs{queue="default",status="done"} 1.0' in httpx.get(f"{base}/metrics", headers=auth).text
        )
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(30) == 0


def test_wait_blocks_until_done_and_its_exit_code_says_how_it_ended(qrun):
    ok_id = qrun("submit", "--", "true").stdout.strip()
    bad_id = qrun("submit", "--max-attempts", "1", "--", "false").stdout.strip()
    early = qrun("wait", ok_id, "--timeout", "0.3", "--interval", "0.05", check=False)
    assert early.returncode == 124 and f"1 of 1 job(s) unfinished: {ok_id}" in early.stderr
    daemon = qrun.serve()
    try:
        done = qrun("wait", ok_id, "--interval", "0.05")
        assert done.returncode == 0 and f"{ok_id} done" in done.stderr  # it says so, not only by its code
        failed = qrun("wait", ok_id, bad_id, "--interval", "0.05", check=False)
        assert failed.returncode == 1 and f"{bad_id} failed: exit code 1" in failed.stderr
        assert f"{ok_id} done" in failed.stderr
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
    missing = qrun("wait", "nope", check=False)
    assert missing.returncode == 1 and "no such job(s): nope" in missing.stderr


def test_doctor_reports_a_job_that_can_never_start(qrun):
    assert qrun("submit", "--", "true").returncode == 0
    assert qrun("doctor").returncode == 0
    from datetime import UTC, datetime

    from qrun.bootstrap.config import load
    from qrun.bootstrap.wiring import bootstrap
    from qrun.core import Job

    app = bootstrap(load(env={}, database_url=str(qrun.cwd / "qrun.db")))
    now = datetime.now(UTC)
    app.store.submit([Job.new(id="parent", kind="command", now=now, payload={"argv": ["true"]})])
    app.store.submit(
        [
            Job.new(
                id="child",
                kind="command",
                now=now,
                payload={"argv": ["true"]},
                depends_on=("parent",),
                on_dependency_failure="wait",  # else it ends cancelled with its parent
            )
        ]
    )
    qrun("cancel", "parent")
    sick = qrun("doctor", check=False)
    assert sick.returncode == 1
    assert (
        "child: waits for parent, which ended cancelled -> `qrun retry parent` or `qrun cancel child`"
        in sick.stdout
    )


def test_r_a1_submitted_inputs_reach_the_command_and_are_deleted_when_it_is_done(qrun):
    data = qrun.cwd / "numbers.txt"
    data.write_text("1\n2\n3\n")
    job_id = qrun(
        "submit", "--input", f"numbers={data}", "--shell", "--", 'wc -l < "$QRUN_INPUTS_DIR/numbers"'
    ).stdout.strip()
    inputs_dir = qrun.cwd / ".qrun" / "inputs"
    assert any(inputs_dir.iterdir())  # stored at submit, before any worker ran
    daemon = qrun.serve()
    try:
        wait_status(qrun, job_id, "done")
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(30)
    out = next((qrun.cwd / ".qrun" / "runs").glob("*/*/stdout")).read_text()
    assert out.strip() == "3"
    assert not any(inputs_dir.iterdir())  # deleted with the job's end (R-A6)
    bad = qrun("submit", "--input", "../x=/etc/hostname", "--", "true", check=False)
    assert bad.returncode == 1 and "input name '../x' is not allowed" in bad.stderr


def test_a_concurrency_key_of_one_never_runs_two_at_once_and_never_wedges(qrun):
    """Two daemons; five commands share a key of limit 1. Each takes a lock directory and
    fails if it is held. One daemon is killed mid-job: its job is adopted after its lease,
    and the key never stays taken by a phantom run (R-C7)."""
    lock = qrun.cwd / "lock"
    script = f"mkdir {lock} || exit 99; sleep 1; rmdir {lock}"
    ids = [qrun("submit", "--key", "k", "--shell", "--", script).stdout.strip() for _ in range(5)]
    fast = {"QRUN_LEASE_S": "2", "QRUN_REAPER_INTERVAL_S": "0.3"}
    first = qrun.serve("--name", "a", extra_env=fast)
    second = None
    try:
        deadline = time.monotonic() + 30
        # Mid-job: started and stamped (killed between its claim and its spawn, nothing
        # would have run, and the retry that follows would spend an attempt).
        while not any((j := stored(qrun, i)).status.value == "running" and j.run.handle for i in ids):
            assert time.monotonic() < deadline, "daemon a never started a job"
            time.sleep(0.02)
        first.kill()  # without a goodbye
        first.wait()
        second = qrun.serve("--name", "b", extra_env=fast)
        for job_id in ids:
            wait_status(qrun, job_id, "done", timeout_s=60)
    finally:
        if second is not None:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
    jobs = [json.loads(qrun("show", i, "--json").stdout) for i in ids]
    assert all(j["attempts"] == 1 and j["error"] is None for j in jobs), [
        (j["attempts"], j["adoptions"], j["error"]) for j in jobs
    ]  # no exit 99: never two at once
