"""huey's SqliteHuey. Its consumer's worker loop is `huey.dequeue()` then `huey.execute(task)`;
each process here runs that loop through huey's public API until the queue is empty.
`synchronous`: FULL is huey's own default (SQLite's, in WAL mode); huey has no NORMAL
option, so for NORMAL the pragma is set on each of its connections."""

import pathlib
import tempfile

from huey import SqliteHuey
from huey.storage import SqliteStorage


class _Normal(SqliteStorage):
    def _create_connection(self):
        conn = super()._create_connection()
        conn.execute("pragma synchronous=1")
        return conn


class System:
    def __init__(self, synchronous: str = "FULL") -> None:
        self.synchronous = synchronous
        self.name = f"huey, synchronous={synchronous}"
        self.db = None

    def _huey(self):
        kw = {"storage_class": _Normal} if self.synchronous == "NORMAL" else {}
        huey = SqliteHuey("bench", filename=str(self.path), **kw)

        @huey.task(name="noop")
        def noop() -> None:
            return None

        return huey, noop

    def setup(self) -> None:
        self.path = pathlib.Path(tempfile.mkdtemp(prefix="huey-bench-")) / "huey.db"
        self._huey()

    def load(self, n: int) -> None:
        _, noop = self._huey()
        for _ in range(n):
            noop()  # huey has no batch enqueue

    def worker(self, index: int, ready, go) -> None:
        huey, _ = self._huey()
        ready()
        go()
        while (task := huey.dequeue()) is not None:
            huey.execute(task)

    def remaining(self) -> int:
        return self._huey()[0].pending_count()
