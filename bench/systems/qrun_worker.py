"""qrun end to end, as a user runs it: `bootstrap()` at the default settings, a no-op
registered with `@app.task()`, `app.serve()` (worker, reaper, sanitizer, listener) in each
process, `burst=True` to return once the queue is empty. Jobs are loaded with one batch
submit. `command=True` runs the command `true` through the subprocess runner instead."""

import logging
import os
import tempfile
import threading
import time
from datetime import UTC, datetime

from qrun.adapters.ids import new_id
from qrun.bootstrap.config import Config, load
from qrun.bootstrap.wiring import bootstrap
from qrun.core import Job

from .pg_common import fresh_database


class System:
    def __init__(
        self, backend: str = "postgres", synchronous: str = "FULL", command: bool = False, **settings
    ):
        self.backend, self.synchronous, self.command, self.settings = backend, synchronous, command, settings
        extra = "".join(f", {k}={v}" for k, v in settings.items())
        what = "command `true`" if command else "python no-op"
        sync = f", synchronous={synchronous}" if backend == "sqlite" else ""
        self.name = f"qrun worker, {what}{sync}{extra}"
        self.db = "bench_qrun" if backend == "postgres" else None

    def _config(self, index: int) -> Config:
        root = self.root
        return load(
            env={},  # these settings alone, as every version of qrun reads them
            database_url=self.url,
            sqlite_synchronous=self.synchronous,
            http_port=0,
            worker_name=f"bench{index}",  # one name per daemon: a name is one daemon's identity
            state_dir=f"{root}/state",
            runs_dir=f"{root}/runs",
            inputs_dir=f"{root}/inputs",
            **self.settings,
        )

    def _app(self, index: int, path: str | None = None):
        logging.getLogger("qrun").setLevel(logging.WARNING)
        app = bootstrap(self._config(index))

        @app.task(name="noop")
        def noop(t: float | None = None) -> None:
            if path is not None and t is not None:
                with open(path, "a") as f:
                    f.write(f"{time.time() - t}\n")

        return app

    def setup(self) -> None:
        self.root = tempfile.mkdtemp(prefix="qrun-bench-")
        if self.backend == "postgres":
            from qrun.adapters.postgres import PostgresStore

            self.url = fresh_database(self.db)
            PostgresStore.migrate(self.url)
        else:
            from qrun.adapters.sqlite import SqliteStore

            self.url = os.path.join(self.root, "qrun.db")
            SqliteStore.migrate(self.url)

    def load(self, n: int) -> None:
        app = bootstrap(self._config(0))
        now = datetime.now(UTC)
        kind, payload = ("command", {"argv": ["true"]}) if self.command else ("noop", {})
        jobs = [Job.new(id=new_id(), kind=kind, payload=payload, now=now) for _ in range(n)]
        for start in range(0, n, 1000):
            app.store.submit(jobs[start : start + 1000])
        app.store.close()

    def worker(self, index: int, ready, go) -> None:
        app = self._app(index)
        ready()
        go()
        app.serve(handle_signals=False, burst=True)
        app.store.close()

    def serve_latency(self, path: str, ready) -> None:
        app = self._app(0, path)
        ready()
        app.serve(threading.Event(), handle_signals=False)

    def submitter(self):
        app = bootstrap(self._config(99))
        return lambda: app.store.submit(
            [Job.new(id=new_id(), kind="noop", payload={"t": time.time()}, now=datetime.now(UTC))]
        )

    def remaining(self) -> int:
        app = bootstrap(self._config(0))
        try:
            return sum(v for (_, s), v in app.store.counts().items() if not s.terminal)
        finally:
            app.store.close()
