"""qrun's store alone, through its port: claim ten jobs (one statement, each row checked
against `decide`), then write their completions as one `apply_many`. No worker, no
runner: the store's share of the cost, next to the raw ten-per-claim loop."""

import os
import tempfile
from datetime import UTC, datetime, timedelta

from qrun.adapters.ids import new_id
from qrun.core import ClaimRequest, Finished, Job, Policy, decide

from .pg_common import fresh_database

POLICY = Policy()


class System:
    def __init__(self, backend: str = "postgres", per_claim: int = 10) -> None:
        self.backend, self.per_claim = backend, per_claim
        self.name = (
            f"qrun {'PostgresStore' if backend == 'postgres' else 'SqliteStore'}, {per_claim} per claim"
        )
        self.db = "bench_qrun_store" if backend == "postgres" else None

    def open(self):
        if self.backend == "postgres":
            from qrun.adapters.postgres import PostgresStore

            return PostgresStore(self.url, min_size=1, max_size=1)
        from qrun.adapters.sqlite import SqliteStore

        return SqliteStore(self.url)

    def setup(self) -> None:
        if self.backend == "postgres":
            from qrun.adapters.postgres import PostgresStore

            self.url = fresh_database(self.db)
            PostgresStore.migrate(self.url)
        else:
            from qrun.adapters.sqlite import SqliteStore

            self.url = os.path.join(tempfile.mkdtemp(prefix="qrun-bench-"), "qrun.db")
            SqliteStore.migrate(self.url)

    def load(self, n: int) -> None:
        store, now = self.open(), datetime.now(UTC)
        jobs = [Job.new(id=new_id(), kind="noop", now=now) for _ in range(n)]
        for start in range(0, n, 1000):
            store.submit(jobs[start : start + 1000])
        store.close()

    def worker(self, index: int, ready, go) -> None:
        store = self.open()
        ready()
        go()
        while True:
            now = datetime.now(UTC)
            claimed = store.claim(
                ClaimRequest(
                    f"w{index}",
                    limit=self.per_claim,
                    now=now,
                    lease_until=now + timedelta(seconds=60),
                    policy=POLICY,
                )
            )
            if not claimed:
                break
            now = datetime.now(UTC)
            store.apply_many([decide(d.job, Finished(None), now, POLICY).unwrap() for d in claimed])
        store.close()

    def remaining(self) -> int:
        store = self.open()
        try:
            return sum(v for (_, s), v in store.counts().items() if not s.terminal)
        finally:
            store.close()
