"""A throwaway PostgreSQL cluster for one benchmark run, as the peers were measured
(peers/BENCH-METHOD.md): initdb, fsync and synchronous_commit at their defaults,
shared_buffers 256MB, plus pg_stat_statements so statements per job can be counted."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def throwaway_cluster() -> Iterator[str]:
    """Yields the server's URL (without a database); raises if no initdb is installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb") or ""]
    if not found[-1]:
        raise RuntimeError("no initdb: install postgresql (apt-get install postgresql) to run the benchmark")
    bindir = os.path.dirname(found[-1])
    root = tempfile.mkdtemp(prefix="qrun-bench-pg-")
    data, port = os.path.join(root, "data"), _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_user, f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", "postgres"],
        check=True,
        capture_output=True,
    )
    opts = (
        f"-p {port} -k {root} -h 127.0.0.1 -c max_connections=200 -c shared_buffers=256MB "
        "-c shared_preload_libraries=pg_stat_statements -c pg_stat_statements.track=all "
        "-c pg_stat_statements.max=10000"
    )
    ctl = [*as_user, f"{bindir}/pg_ctl", "-D", data]
    subprocess.run([*ctl, "-o", opts, "-w", "start", "-l", f"{root}/log"], check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run([*ctl, "-m", "fast", "stop"], check=False, capture_output=True)
        shutil.rmtree(root, ignore_errors=True)
