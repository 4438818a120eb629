"""huey's SqliteStorage. huey's consumer runs Worker.loop, which is `huey.dequeue()` then
`huey.execute(task)`; the worker here runs that same loop through huey's public API so
it can stop when the queue is empty (the consumer process itself never stops)."""

import pathlib
import tempfile

from huey import SqliteHuey

NAME = "huey SqliteStorage"


def _huey(path: pathlib.Path):
    huey = SqliteHuey("bench", filename=str(path))

    @huey.task(name="noop")
    def noop() -> None:
        return None

    return huey, noop


class System:
    def setup(self) -> None:
        self.path = pathlib.Path(tempfile.mkdtemp(prefix="huey-bench-")) / "huey.db"
        _huey(self.path)

    def submit_one(self, n: int) -> None:
        _, noop = _huey(self.path)
        for _ in range(n):
            noop()  # enqueues

    def submit_batch(self, n: int, size: int) -> None:
        self.submit_one(n)  # huey has no batch enqueue

    def worker(self, name: str, ready, go) -> int:
        huey, _ = _huey(self.path)
        done = 0
        ready()
        go()
        while (task := huey.dequeue()) is not None:
            huey.execute(task)
            done += 1
        return done

    def remaining(self) -> int:
        return _huey(self.path)[0].pending_count()
