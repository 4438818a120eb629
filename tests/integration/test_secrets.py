"""What the daemon holds does not leak, and a daemon that cannot do its job says so and
stops: a job sees only the environment it was given, run files are private, a taken
port or an unreachable database is an error naming it (issue 18)."""

import json
import os
import socket
import stat
import subprocess
import sys
import time

import pytest

from qrun.adapters.runners.subprocess_runner import SubprocessRunner
from qrun.adapters.storage.fs import FsInputStore
from qrun.core import Job, Run
from qrun.core.ports import StoreUnreachable

QRUN = [sys.executable, "-m", "qrun.bootstrap.cli"]
T = __import__("datetime").datetime(2030, 1, 1, tzinfo=__import__("datetime").UTC)


def mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_a_command_sees_the_allow_list_and_its_own_env_never_the_daemons_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("QRUN_API_TOKEN", "daemon-secret")
    monkeypatch.setenv("QRUN_DATABASE_URL", "postgresql://u:pw@db/x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-for-jobs")
    monkeypatch.setenv("LANG", "C.UTF-8")
    runner = SubprocessRunner(tmp_path / "runs", inputs=FsInputStore(tmp_path / "in"))
    job = Job.new(id="j", kind="command", now=T, payload={"argv": ["env"], "env": {"MINE": "yes"}})
    handle = runner.spawn(job, Run("j/1"))
    done = runner.wait(handle, 30)
    assert done is not None and done.code == 0
    seen = dict(line.split("=", 1) for line in runner.output(handle)[0].decode().splitlines() if "=" in line)
    assert seen["MINE"] == "yes" and seen["LANG"] == "C.UTF-8" and "PATH" in seen
    assert seen["QRUN_JOB_ID"] == "j"  # who it is: set by the runner, not inherited
    for secret in ("QRUN_API_TOKEN", "QRUN_DATABASE_URL", "AWS_SECRET_ACCESS_KEY"):
        assert secret not in seen, secret


def test_an_allow_listed_name_never_passes_a_qrun_setting(tmp_path, monkeypatch):
    monkeypatch.setenv("QRUN_API_TOKEN", "daemon-secret")
    monkeypatch.setenv("EXTRA", "ok")
    runner = SubprocessRunner(tmp_path / "runs", env_allow=("PATH", "EXTRA", "QRUN_API_TOKEN"))
    job = Job.new(id="j", kind="command", now=T, payload={"argv": ["env"]})
    handle = runner.spawn(job, Run("j/1"))
    runner.wait(handle, 30)
    out = runner.output(handle)[0].decode()
    assert "EXTRA=ok" in out and "daemon-secret" not in out


def test_run_files_and_inputs_are_private(tmp_path):
    os.umask(0o022)  # a permissive umask, as most daemons have
    inputs = FsInputStore(tmp_path / "in")
    inputs.put("j", "data.csv", b"a,b")
    runner = SubprocessRunner(tmp_path / "runs", inputs=inputs)
    job = Job.new(
        id="j",
        kind="command",
        now=T,
        payload={"argv": ["sh", "-c", "echo hi; echo oops >&2"], "env": {"PASSWORD": "x"}},
    )
    handle = runner.spawn(job, Run("j/1"))
    runner.wait(handle, 30)
    root = runner.run_dir("j", "j/1")
    assert json.loads((root / "spec.json").read_text())["env"]["PASSWORD"] == "x"
    for name in ("spec.json", "stdout", "stderr", "exit.json", "monitor.json", "monitor.log"):
        assert mode(root / name) == 0o600, name
    for folder in (root, root.parent, tmp_path / "runs", tmp_path / "in", inputs.dir("j")):
        assert mode(folder) == 0o700, folder
    assert mode(inputs.dir("j") / "data.csv") == 0o600


@pytest.fixture
def env(tmp_path):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_")}
    return {**clean, "QRUN_POLL_S": "0.05", "QRUN_DATABASE_URL": str(tmp_path / "q.db")}


def test_a_daemon_whose_http_port_is_taken_exits_naming_it(tmp_path, env):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [*QRUN, "serve"],
            cwd=tmp_path,
            env={**env, "QRUN_HTTP_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == 1, done.stderr
    assert f"cannot serve the HTTP API on 127.0.0.1:{port}" in done.stderr and "QRUN_HTTP_PORT" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.postgres
def test_a_database_that_does_not_exist_fails_fast_naming_it_without_its_password(
    tmp_path, env, postgres_url
):
    bad = postgres_url.rsplit("/", 1)[0].replace("://", "://qrun_user:hunter2@", 1) + "/qrun_no_such_db"
    started = time.monotonic()
    done = subprocess.run(
        [*QRUN, "--db", bad, "ls"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1 and time.monotonic() - started < 30
    assert "cannot connect to PostgreSQL at" in done.stderr and "qrun_no_such_db" in done.stderr
    assert "hunter2" not in done.stderr and "Traceback" not in done.stderr


def test_the_store_names_an_unreachable_server():
    from qrun.adapters.postgres import PostgresStore

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(
        StoreUnreachable, match=rf"cannot connect to PostgreSQL at postgresql://me:\*\*\*@127.0.0.1:{port}/x"
    ):
        PostgresStore(f"postgresql://me:secret@127.0.0.1:{port}/x", connect_timeout_s=2)
