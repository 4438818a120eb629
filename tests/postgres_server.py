"""Finding a PostgreSQL server for the tests, in the order the project promises:

1. `QRUN_TEST_POSTGRES_URL`, if set;
2. the server on 127.0.0.1:5432 (database `test`);
3. a throwaway server from local PostgreSQL binaries (initdb / pg_ctl), if present;
4. testcontainers, if a Docker engine answers;
5. otherwise None, with what was tried, so the tests skip saying why (and CI, which
   counts skips as failures, fails).
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator

import psycopg


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.Error:
        return False


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def _throwaway() -> Iterator[str | None]:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb") or ""]
    initdb = found[-1]
    if not initdb:
        yield None
        return
    bindir = os.path.dirname(initdb)
    root = tempfile.mkdtemp(prefix="qrun-pg-")
    data, port = os.path.join(root, "data"), _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    try:
        subprocess.run(
            [*as_user, initdb, "-D", data, "-A", "trust", "-U", "postgres"], check=True, capture_output=True
        )
        opts = f"-p {port} -k {root} -h 127.0.0.1 -c max_connections=200 -c fsync=off"
        subprocess.run(
            [
                *as_user,
                os.path.join(bindir, "pg_ctl"),
                "-D",
                data,
                "-o",
                opts,
                "-w",
                "start",
                "-l",
                f"{root}/log",
            ],
            check=True,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, OSError, LookupError):
        shutil.rmtree(root, ignore_errors=True)
        yield None
        return
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, os.path.join(bindir, "pg_ctl"), "-D", data, "-m", "immediate", "stop"], check=False
        )
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def _container() -> Iterator[str | None]:
    try:
        import docker
        from testcontainers.postgres import PostgresContainer

        docker.from_env().ping()
    except Exception:  # no SDK, no engine: this route is simply not available
        yield None
        return
    with PostgresContainer("postgres:16", driver=None) as pg:
        yield pg.get_connection_url()


@contextlib.contextmanager
def postgres_url() -> Iterator[tuple[str | None, list[str]]]:
    tried: list[str] = []
    forced = os.environ.get("QRUN_TEST_POSTGRES")  # "throwaway" forces route 3, for testing it
    env = os.environ.get("QRUN_TEST_POSTGRES_URL")
    if env and not forced:
        tried.append(f"QRUN_TEST_POSTGRES_URL={env}")
        if _answers(env):
            yield env, tried
            return
    local = "postgresql://postgres@127.0.0.1:5432/test"
    if not forced:
        tried.append(local)
        if _answers(local):
            yield local, tried
            return
    tried.append("a throwaway server from local initdb/pg_ctl")
    with _throwaway() as url:
        if url:
            yield url, tried
            return
    tried.append("testcontainers (needs a Docker engine)")
    with _container() as url:
        yield url, tried
