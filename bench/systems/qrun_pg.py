"""qrun's PostgreSQL store, driven through its port: claim, then record the outcome."""

from datetime import UTC, datetime, timedelta

from qrun.adapters.ids import new_id
from qrun.adapters.postgres import PostgresStore
from qrun.core import Finished, Job, Policy, decide

from .pg_common import fresh_database

NAME = "qrun PostgresStore"
POLICY = Policy()


def _jobs(n: int) -> list[Job]:
    now = datetime.now(UTC)
    return [Job.new(id=new_id(), kind="noop", now=now) for _ in range(n)]


class System:
    def __init__(self, db: str = "bench_qrun") -> None:
        self.db = db

    def setup(self) -> None:
        self.url = fresh_database(self.db)
        PostgresStore.migrate(self.url)

    def submit_one(self, n: int) -> None:
        store = PostgresStore(self.url, max_size=1)
        for job in _jobs(n):
            store.submit([job])
        store.close()

    def submit_batch(self, n: int, size: int) -> None:
        store = PostgresStore(self.url, max_size=1)
        jobs = _jobs(n)
        for start in range(0, n, size):
            store.submit(jobs[start : start + size])
        store.close()

    def worker(self, name: str, ready, go) -> int:
        store = PostgresStore(self.url, min_size=1, max_size=1)
        done = 0
        ready()
        go()
        while True:
            now = datetime.now(UTC)
            claimed = store.claim(
                name, limit=1, now=now, lease_until=now + timedelta(seconds=60), policy=POLICY
            )
            if not claimed:
                break
            for d in claimed:
                store.apply(decide(d.job, Finished(None), datetime.now(UTC), POLICY).unwrap())
                done += 1
        store.close()
        return done

    def remaining(self) -> int:
        store = PostgresStore(self.url, max_size=1)
        counts = store.counts()
        store.close()
        return sum(n for (_, s), n in counts.items() if not s.terminal)
