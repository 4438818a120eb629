"""What the two qrun systems share: the same jobs, submits, worker loop and count, driven
through the JobStore port; only how a store is opened differs."""

from datetime import UTC, datetime, timedelta

from qrun.adapters.ids import new_id
from qrun.core import Finished, Job, Policy, decide
from qrun.core.ports import JobStore

POLICY = Policy()


def jobs(n: int) -> list[Job]:
    now = datetime.now(UTC)
    return [Job.new(id=new_id(), kind="noop", now=now) for _ in range(n)]


class QrunSystem:
    def open(self) -> JobStore:
        raise NotImplementedError

    def submit_one(self, n: int) -> None:
        store = self.open()
        for job in jobs(n):
            store.submit([job])
        store.close()

    def submit_batch(self, n: int, size: int) -> None:
        store = self.open()
        todo = jobs(n)
        for start in range(0, n, size):
            store.submit(todo[start : start + size])
        store.close()

    def worker(self, name: str, ready, go) -> int:
        """Claim one job, record it finished, until none is left."""
        store = self.open()
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
        store = self.open()
        n = sum(v for (_, s), v in store.counts().items() if not s.terminal)
        store.close()
        return n
