"""A throwaway PostgreSQL cluster a test starts, stops and restarts itself (initdb and
pg_ctl from the distribution), for the faults a deployment meets: a server down at
start-up, a restart in the middle of a run. Its port stays the same across restarts."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Cluster:
    def __init__(self) -> None:
        found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb")) or [shutil.which("initdb") or ""]
        if not found[-1]:
            pytest.fail("database fault tests need initdb and pg_ctl (apt-get install postgresql)")
        self._bin = os.path.dirname(found[-1])
        self.root = tempfile.mkdtemp(prefix="qrun-fault-pg-")
        self.data = os.path.join(self.root, "data")
        self.port = _free_port()
        self._as: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.root, "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        self._run("initdb", "-D", self.data, "-A", "trust", "-U", "postgres")
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [*self._as, os.path.join(self._bin, tool), *args], capture_output=True, text=True, check=False
        )
        assert done.returncode == 0, f"{tool} {' '.join(args)}: {done.stderr}"

    def start(self) -> None:
        opts = f"-p {self.port} -k {self.root} -h 127.0.0.1 -c max_connections=200"
        self._run("pg_ctl", "-D", self.data, "-o", opts, "-w", "-l", f"{self.root}/log", "start")

    def restart(self, mode: str = "fast") -> None:
        """`pg_ctl restart -m MODE`: every connection ends, the server is back when it returns."""
        opts = f"-p {self.port} -k {self.root} -h 127.0.0.1 -c max_connections=200"
        self._run(
            "pg_ctl", "-D", self.data, "-m", mode, "-o", opts, "-w", "-l", f"{self.root}/log", "restart"
        )

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", self.data, "-m", mode, "-w", "stop")

    def destroy(self) -> None:
        subprocess.run(
            [*self._as, os.path.join(self._bin, "pg_ctl"), "-D", self.data, "-m", "immediate", "stop"],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(self.root, ignore_errors=True)
