"""What the daemon holds does not leak through a real `qrun serve` (issue 27): a command
job reading its monitor's environment and command line (/proc/$PPID) finds no secret of
the daemon's (R-I1); a database password shows in no output, log, API answer or page
(R-I2); the SQLite files and lock files are the owner's alone, and lock files do not pile
up (R-I5)."""

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest

QRUN = [sys.executable, "-m", "qrun.bootstrap.cli"]
TOKEN = "api-t0ken-never-seen"
PASSWORD = "Pg-pa55word-never-seen"
AWS = "aws-secret-never-seen"
HOOK = "hook-pa55-never-seen"
SECRETS = (TOKEN, PASSWORD, AWS, HOOK)


def with_password(url: str, password: str) -> str:
    """`url` with a user and `password` (the test servers trust local connections, so
    the password is carried, and must be hidden, but is not checked)."""
    parts = urlsplit(url)
    user = parts.username or os.environ.get("USER") or "root"
    netloc = f"{user}:{password}@{parts.hostname}:{parts.port or 5432}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def daemon_env(request, tmp_path, kind):
    clean = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_")}
    env = {
        **clean,
        "QRUN_POLL_S": "0.05",
        "QRUN_API_TOKEN": TOKEN,
        "QRUN_HTTP_PORT": "0",
        "AWS_SECRET_ACCESS_KEY": AWS,
        # Nothing listens there: each notification fails, and its log line names the hook.
        "QRUN_WEBHOOK_URL": f"http://hook:{HOOK}@127.0.0.1:{free_port()}/notify",
    }
    if kind == "sqlite":
        env["QRUN_DATABASE_URL"] = str(tmp_path / "q.db")
    else:
        env["QRUN_DATABASE_URL"] = with_password(request.getfixturevalue("postgres_url"), PASSWORD)
        env["QRUN_SCHEMA"] = request.getfixturevalue("pg_schemas")()
    return env


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def env(request, tmp_path):
    return daemon_env(request, tmp_path, request.param)


@pytest.fixture
def pg_env(request, tmp_path):
    return daemon_env(request, tmp_path, "postgres")


def run(env, cwd, *args, ok=True):
    done = subprocess.run(
        [*QRUN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if ok:
        assert done.returncode == 0, done.stderr
    return done


def test_r_i1_a_command_reading_its_monitor_finds_no_secret_of_the_daemons(env, tmp_path):
    run(env, tmp_path, "migrate")
    probe = (
        'echo "== environ"; tr "\\0" "\\n" < /proc/$PPID/environ; '
        'echo "== cmdline"; tr "\\0" " " < /proc/$PPID/cmdline; echo; '
        'echo "== own"; env'
    )
    job = run(env, tmp_path, "submit", "--shell", "--", probe).stdout.strip()
    run(env, tmp_path, "serve", "--burst")
    seen = run(env, tmp_path, "logs", job).stdout
    monitor_env, rest = seen.split("== environ\n", 1)[1].split("== cmdline\n", 1)
    monitor_cmdline, own = rest.split("== own\n", 1)
    assert "PATH=" in monitor_env  # it did read its parent's environment
    # and its parent is the monitor (native, or the Python one where none builds)
    assert "qrun-monitor-" in monitor_cmdline or "qrun.adapters.runners.monitor" in monitor_cmdline
    for secret in SECRETS:
        assert secret not in seen, secret
    assert not [line for line in monitor_env.splitlines() if line.startswith("QRUN_") and "TEST" not in line]
    assert "QRUN_JOB_ID=" in own  # who it is, given to it on purpose


def test_r_i1_a_process_can_make_itself_unreadable_to_its_user(tmp_path):
    """What `qrun serve` does first: not dumpable, so /proc/PID/environ and ptrace are
    refused to the jobs it starts (same user, not root). Root can still read it, and the
    tests run as root, so only the flag itself is checked here: the docs say so."""
    code = (
        "from qrun.adapters.runners.procs import dumpable, hide_from_same_user\n"
        "before = dumpable(); took = hide_from_same_user(); print(before, took, dumpable())"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["True", "True", "False"]


@pytest.mark.postgres
def test_r_i2_the_password_shows_in_no_output_log_answer_or_page(pg_env, tmp_path):
    env = pg_env
    said: list[str] = []

    def qrun(*args, ok=True):
        done = run(env, tmp_path, *args, ok=ok)
        said.extend((done.stdout, done.stderr))
        return done

    qrun("migrate")
    failing = qrun("submit", "--max-attempts", "1", "--", "sh", "-c", "echo out; exit 3").stdout.strip()
    good = qrun("submit", "--", "true").stdout.strip()
    port = free_port()
    served = {**env, "QRUN_HTTP_PORT": str(port)}
    daemon = subprocess.Popen(
        [*QRUN, "serve", "--name", "leak"], cwd=tmp_path, env=served, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/jobs/{failing}", headers=auth).json().get("status") == "failed":
                    break
            except (httpx.TransportError, ValueError):
                pass
            assert daemon.poll() is None, daemon.stderr.read()
            assert time.monotonic() < deadline, "the failing job never ended"
            time.sleep(0.05)
        for path in ("/healthz", "/queue", "/daemons", "/jobs", f"/jobs/{failing}", "/metrics", "/pools"):
            said.append(httpx.get(base + path, headers=auth).text)
        with httpx.Client(base_url=base, headers={"Origin": base}) as browser:
            browser.post("/ui/login", data={"token": TOKEN})
            for path in (
                "/",
                "/ui/jobs",
                f"/ui/jobs/{failing}",
                f"/ui/jobs/{good}",
                "/ui/pools",
                "/ui/schedules",
            ):
                page = browser.get(path)
                assert page.status_code == 200, path
                said.append(page.text)
        for args in (("ls",), ("show", failing), ("show", failing, "--json"), ("logs", failing), ("queues",)):
            qrun(*args)
        qrun("daemons")
        qrun("doctor", ok=False)  # exit 1 when it finds something: its words are what count
        qrun("show", "no-such-job", ok=False)
        second = qrun("serve", "--name", "leak", ok=False)  # the name is held: refused
        assert second.returncode == 1
        bad = env["QRUN_DATABASE_URL"].rsplit("/", 1)[0] + "/qrun_no_such_db"
        qrun("--db", bad, "ls", ok=False)
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=60)
        said.append(err)
    text = "\n".join(said)
    assert "qrun serving postgresql://" in text and ":***@" in text  # the lines are there, masked
    assert "webhook http://hook:***@" in text  # a failed notification names its hook, masked
    for secret in (PASSWORD, HOOK, TOKEN):
        assert secret not in text, secret


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_r_i5_sqlite_files_are_private_and_lock_files_do_not_pile_up(tmp_path):
    old = os.umask(0o022)  # a permissive umask, as most services have
    try:
        db = tmp_path / "q.db"
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_")}
        env.update(QRUN_DATABASE_URL=str(db), QRUN_POLL_S="0.05", QRUN_HTTP_PORT=str(port))
        run(env, tmp_path, "migrate")
        job = run(env, tmp_path, "submit", "--", "true").stdout.strip()

        def start():
            daemon = subprocess.Popen([*QRUN, "serve"], cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/jobs/{job}").json()["status"] == "done":
                        return daemon
                except (httpx.TransportError, ValueError, KeyError):
                    pass
                assert daemon.poll() is None and time.monotonic() < deadline, "the daemon never served"
                time.sleep(0.05)

        def locks():
            return sorted(tmp_path.glob("q.db.*.lock"))

        first = start()
        (held,) = locks()
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), held):
            assert mode(path) == 0o600, path
        first.kill()  # no chance to remove its lock file
        first.wait()
        assert locks() == [held]
        second = start()  # another name of its own: the dead daemon's file goes
        (mine,) = locks()
        assert mine != held
        second.send_signal(signal.SIGTERM)
        assert second.wait(60) == 0
        assert locks() == []  # a daemon removes its own when it stops
        for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
            if path.exists():
                assert mode(path) == 0o600, path
    finally:
        os.umask(old)


def test_r_i5_the_lock_protocol_never_lets_two_hold_one_name(tmp_path):
    """A holder removes its file as it lets go and a cleaner removes dead holders' files,
    while others take it: at no moment do two hold it, and no taker is refused by a
    cleaner's brief hold. Processes, not threads: flock is per open file."""
    script = (
        "import sys, time, os, json\n"
        "from pathlib import Path\n"
        "from qrun.adapters.locks import clear_stale, file_lock\n"
        "from qrun.core.ports import NameTaken\n"
        "folder = Path(sys.argv[1]); path = folder / 'n.lock'; log = folder / 'log'\n"
        "held = refused = 0\n"
        "end = time.monotonic() + 3\n"
        "while time.monotonic() < end:\n"
        "    clear_stale(folder, '*.lock')\n"
        "    try:\n"
        "        with file_lock(path, lambda pid: pid):\n"
        "            mark = folder / 'inside'\n"
        "            fd = os.open(mark, os.O_CREAT | os.O_EXCL | os.O_WRONLY)\n"  # fails if another holds it
        "            os.close(fd); held += 1; os.unlink(mark)\n"
        "    except NameTaken:\n"
        "        refused += 1\n"
        "print(json.dumps([held, refused]))\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", script, str(tmp_path)], stdout=subprocess.PIPE, text=True)
        for _ in range(3)
    ]
    results = [json.loads(p.communicate(timeout=60)[0]) for p in procs]
    assert all(p.returncode == 0 for p in procs), results  # no FileExistsError: never two inside
    assert sum(held for held, _ in results) > 0
    assert not list(tmp_path.glob("*.lock"))
