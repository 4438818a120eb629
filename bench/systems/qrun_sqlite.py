"""qrun's SQLite store on one file, driven through its port."""

import pathlib
import tempfile
from datetime import UTC, datetime, timedelta

from qrun.adapters.ids import new_id
from qrun.adapters.sqlite import SqliteStore
from qrun.core import Finished, Job, Policy, decide

NAME = "qrun SqliteStore"
POLICY = Policy()


class System:
    def setup(self) -> None:
        self.path = pathlib.Path(tempfile.mkdtemp(prefix="qrun-bench-")) / "qrun.db"
        SqliteStore.migrate(self.path)

    def _jobs(self, n: int) -> list[Job]:
        now = datetime.now(UTC)
        return [Job.new(id=new_id(), kind="noop", now=now) for _ in range(n)]

    def submit_one(self, n: int) -> None:
        store = SqliteStore(self.path)
        for job in self._jobs(n):
            store.submit([job])
        store.close()

    def submit_batch(self, n: int, size: int) -> None:
        store = SqliteStore(self.path)
        jobs = self._jobs(n)
        for start in range(0, n, size):
            store.submit(jobs[start : start + size])
        store.close()

    def worker(self, name: str, ready, go) -> int:
        store = SqliteStore(self.path)
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
        store = SqliteStore(self.path)
        n = sum(v for (_, s), v in store.counts().items() if not s.terminal)
        store.close()
        return n
