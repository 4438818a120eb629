"""procrastinate as its docs say: an App on a PsycopgConnector, a task, `batch_defer`,
and its worker at the defaults (concurrency 1, LISTEN/NOTIFY); `wait=False` returns
once the queue is empty."""

import logging
import time

import procrastinate
import psycopg

from .pg_common import fresh_database


def _app(url: str, path: str | None = None) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    @app.task(name="noop", queue="bench")
    def noop(t: float | None = None) -> None:
        if path is not None and t is not None:
            with open(path, "a") as f:
                f.write(f"{time.time() - t}\n")

    return app


class System:
    name = "procrastinate (default)"
    db = "bench_procrastinate"

    def setup(self) -> None:
        self.url = fresh_database(self.db)
        app = _app(self.url)
        with app.open():
            app.schema_manager.apply_schema()

    def load(self, n: int) -> None:
        app = _app(self.url)
        with app.open():
            task = app.tasks["noop"]
            for start in range(0, n, 1000):
                task.batch_defer(*({} for _ in range(min(1000, n - start))))

    def worker(self, index: int, ready, go) -> None:
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
        app = _app(self.url)
        ready()
        go()
        app.run_worker(queues=["bench"], name=f"w{index}", wait=False, install_signal_handlers=False)

    def serve_latency(self, path: str, ready) -> None:
        logging.getLogger("procrastinate").setLevel(logging.WARNING)
        app = _app(self.url, path)
        ready()
        app.run_worker(queues=["bench"], name="w0", install_signal_handlers=False)

    def submitter(self):
        app = _app(self.url)
        app.open()
        task = app.tasks["noop"]
        return lambda: task.defer(t=time.time())

    def remaining(self) -> int:
        with psycopg.connect(self.url) as c:
            return c.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status <> 'succeeded'"
            ).fetchone()[0]
