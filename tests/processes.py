"""Running real worker processes (tests/integration/claim_worker.py) against one store."""

import json
import pathlib
import subprocess
import sys

WORKER = pathlib.Path(__file__).parent / "integration" / "claim_worker.py"


def run_workers(kind: str, target: str, n: int) -> list[dict]:
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), kind, target, f"proc-{i}"], stdout=subprocess.PIPE, text=True
        )
        for i in range(n)
    ]
    ran: list[dict] = []
    for p in procs:
        out, _ = p.communicate(timeout=180)
        assert p.returncode == 0, f"worker exited {p.returncode}"
        ran += json.loads(out)
    return ran


def open_store(kind: str, target: str):
    """A store named the way the worker scripts take it: sqlite PATH or postgres URL#SCHEMA."""
    if kind == "sqlite":
        from qrun.adapters.sqlite import SqliteStore

        return SqliteStore(target)
    from qrun.adapters.postgres import PostgresStore

    url, schema = target.rsplit("#", 1)
    return PostgresStore(url, schema=schema)
