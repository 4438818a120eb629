"""procrastinate, used as its docs say: an App on a PsycopgConnector, a task, defer /
batch_defer, and `run_worker(wait=False)`, which returns once the queue is empty."""

import logging

import procrastinate
import psycopg

from .pg_common import fresh_database

NAME = "procrastinate"


def _app(url: str) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    @app.task(name="noop", queue="bench")
    def noop() -> None:
        return None

    return app


class System:
    def __init__(self, db: str = "bench_procrastinate") -> None:
        self.db = db

    def setup(self) -> None:
        self.url = fresh_database(self.db)
        app = _app(self.url)
        with app.open():
            app.schema_manager.apply_schema()

    def submit_one(self, n: int) -> None:
        app = _app(self.url)
        with app.open():
            task = app.tasks["noop"]
            for _ in range(n):
                task.defer()

    def submit_batch(self, n: int, size: int) -> None:
        app = _app(self.url)
        with app.open():
            task = app.tasks["noop"]
            for start in range(0, n, size):
                task.batch_defer(*({} for _ in range(min(size, n - start))))

    def worker(self, name: str, ready, go) -> int:
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
        app = _app(self.url)
        ready()
        go()
        app.run_worker(queues=["bench"], name=name, concurrency=1, wait=False, install_signal_handlers=False)
        return -1  # procrastinate does not report a count; remaining() checks the drain

    def remaining(self) -> int:
        with psycopg.connect(self.url) as c:
            return c.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status <> 'succeeded'"
            ).fetchone()[0]
