"""An application's tasks in the stock daemon (`qrun serve --app`), on SQLite and on
PostgreSQL: an async task, submitted from async code, its result read back; and the
everyday CLI: `logs`, `ls` newest first, `--version`."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta

import pytest

from qrun.adapters.postgres import PostgresStore
from qrun.adapters.sqlite import SqliteStore
from qrun.bootstrap.usecases.tasks import JobFailed
from qrun.core import Job

QRUN = [sys.executable, "-m", "qrun.bootstrap.cli"]
TASKS = textwrap.dedent(
    """
    import asyncio

    from qrun.bootstrap.wiring import bootstrap

    app = bootstrap()


    @app.task(queue="io")
    async def fetch(url: str) -> dict:
        await asyncio.sleep(0.01)
        return {"url": url, "status": 200}


    @app.task(max_attempts=1)
    def boom() -> None:
        raise RuntimeError("kaboom")
    """
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request, tmp_path):
    if request.param == "sqlite":
        return {"QRUN_DATABASE_URL": str(tmp_path / "q.db")}
    url = request.getfixturevalue("postgres_url")
    schema = request.getfixturevalue("pg_schemas")()
    return {"QRUN_DATABASE_URL": url, "QRUN_SCHEMA": schema}


@pytest.fixture
def env(tmp_path, database):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_")}
    return {**clean, **database, "QRUN_HTTP_PORT": "0", "QRUN_POLL_S": "0.05", "PYTHONPATH": str(tmp_path)}


def open_store(env):
    url = env["QRUN_DATABASE_URL"]
    if url.startswith("postgresql"):
        return PostgresStore(url, schema=env["QRUN_SCHEMA"])
    return SqliteStore(url)


def qrun(tmp_path, env, *args):
    done = subprocess.run(
        [*QRUN, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_serve_app_runs_an_async_task_submitted_from_async_code(tmp_path, env, monkeypatch):
    (tmp_path / "tasks.py").write_text(TASKS)
    qrun(tmp_path, env, "migrate")
    daemon = subprocess.Popen(
        [*QRUN, "serve", "--app", "tasks:app"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        monkeypatch.chdir(tmp_path)
        monkeypatch.syspath_prepend(str(tmp_path))
        sys.modules.pop("tasks", None)
        import tasks

        async def handler():
            job_id = await tasks.fetch.submit_async(url="https://example.org")
            return job_id, await tasks.app.result_async(job_id, timeout_s=60)

        job_id, result = asyncio.run(handler())
        assert result == {"url": "https://example.org", "status": 200}
        assert tasks.app.job(job_id).queue == "io"  # the task's option
        failed = tasks.boom.submit()
        with pytest.raises(JobFailed) as raised:
            tasks.app.result(failed, timeout_s=60)
        assert "RuntimeError: kaboom" in str(raised.value) and "Traceback" in str(raised.value)
        shown = qrun(tmp_path, env, "show", failed)
        assert "Traceback (most recent call last)" in shown and 'raise RuntimeError("kaboom")' in shown
        assert "Failed -> failed, attempt" in shown and ": RuntimeError: kaboom" in shown  # its timeline
        [listed] = json.loads(qrun(tmp_path, env, "daemons", "--json"))  # it reports itself
        assert (listed["pid"], listed["slots"]) == (daemon.pid, 32)
        tasks.app.store.close()
    finally:
        sys.modules.pop("tasks", None)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(60) == 0, daemon.stderr.read()


def test_logs_ls_newest_first_and_version(tmp_path, env):
    qrun(tmp_path, env, "migrate")
    first = qrun(tmp_path, env, "submit", "--", "sh", "-c", "echo out-line; echo err-line >&2").strip()
    second = qrun(tmp_path, env, "submit", "--", "true").strip()
    assert [j["id"] for j in json.loads(qrun(tmp_path, env, "ls", "--json"))] == [second, first]
    assert [j["id"] for j in json.loads(qrun(tmp_path, env, "ls", "--json", "--oldest-first"))] == [
        first,
        second,
    ]
    # A schedule's job, fired before them: its "cron-" id sorts after theirs, its time before.
    store = open_store(env)
    hour_ago = datetime.now(UTC) - timedelta(hours=1)
    store.submit([Job.new(id="cron-tick-20260101T000000", kind="command", now=hour_ago)])
    store.close()
    listed = [j["id"] for j in json.loads(qrun(tmp_path, env, "ls", "--json"))]
    assert listed == [second, first, "cron-tick-20260101T000000"]
    qrun(tmp_path, env, "cancel", "cron-tick-20260101T000000")
    qrun(tmp_path, env, "serve", "--burst")
    done = subprocess.run(
        [*QRUN, "logs", first], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout == "out-line\n" and done.stderr == "err-line\n"
    table = qrun(tmp_path, env, "ls", "--kind", "command")
    assert first in table and "done" in table
    assert qrun(tmp_path, env, "--version").startswith("qrun, version ")


def test_a_daemon_without_the_app_leaves_its_task_jobs_queued_with_no_attempt_spent(tmp_path, env):
    qrun(tmp_path, env, "migrate")
    store = open_store(env)
    store.submit([Job.new(id="send-1", kind="send", now=datetime.now(UTC), max_attempts=1)])
    store.close()
    command = qrun(tmp_path, env, "submit", "--", "true").strip()
    qrun(tmp_path, env, "serve", "--burst")  # no --app: it has no task named "send"
    shown = {j["id"]: j for j in json.loads(qrun(tmp_path, env, "ls", "--json"))}
    assert shown[command]["status"] == "done"
    assert (shown["send-1"]["status"], shown["send-1"]["attempts"]) == ("queued", 0)


def test_a_module_that_makes_its_app_imports_with_the_database_down(tmp_path):
    """`app = bootstrap()` at a module's top level opens nothing: the import works with
    PostgreSQL down, and the outage is said at the first use (or `app.open()`)."""
    (tmp_path / "tasks.py").write_text(TASKS)
    script = textwrap.dedent(
        """
        import tasks
        from qrun.core.ports import StoreUnreachable

        print("imported", sorted(tasks.app.tasks.names()))
        try:
            tasks.app.open()
        except StoreUnreachable as exc:
            print("open refused:", exc)
        """
    )
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_")}
    down = {**clean, "QRUN_DATABASE_URL": "postgresql://127.0.0.1:1/nothing", "PYTHONPATH": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=down,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "imported ['boom', 'fetch']" in done.stdout
    assert "open refused:" in done.stdout and "127.0.0.1" in done.stdout


def test_serve_app_on_a_fresh_folder_makes_the_sqlite_file_and_runs_the_tasks(tmp_path):
    (tmp_path / "tasks.py").write_text(TASKS)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_")}
    env = {**clean, "QRUN_HTTP_PORT": "0", "PYTHONPATH": str(tmp_path)}  # ./qrun.db, never migrated
    job_id = qrun(tmp_path, env, "--app", "tasks:app", "submit", "--task", "fetch", "--arg", "url=x").strip()
    qrun(tmp_path, env, "serve", "--app", "tasks:app", "--burst")
    assert json.loads(qrun(tmp_path, env, "show", job_id, "--json"))["status"] == "done"
