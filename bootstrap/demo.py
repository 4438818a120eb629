"""A small demo: submit jobs to the in-memory store and let the real daemon loop run
them (worker, reaper, sanitizer), the way `qrun serve` does against a database."""

from __future__ import annotations

import argparse
import random
import tempfile
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime

from qrun.adapters.memory import MemoryStore
from qrun.core import FollowUp, Job, Status
from qrun.core.errors import QrunError

from .config import of
from .wiring import bootstrap


class FlakyFailed(QrunError, RuntimeError):
    """The demo's flaky task failing on purpose, as a task of yours might."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="qrun in-memory demo")
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=3, help="slots: jobs run at once")
    args = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix="qrun-demo-")
    app = bootstrap(
        of(http_port=0, slots=args.workers, state_dir=root, runs_dir=root, inputs_dir=root),
        store=MemoryStore(),
    )

    @app.task()
    def square(n: int) -> int:
        return n * n

    @app.task()
    def flaky() -> str:
        if random.random() < 0.5:
            raise FlakyFailed("flaky task failed; it will be retried with backoff")
        return "ok"

    @app.task()
    def report(**payload: object) -> object:
        return payload

    now = datetime.now(UTC)
    jobs = [Job.new(id=f"square-{i:03d}", kind="square", now=now, payload={"n": i}) for i in range(args.jobs)]
    jobs.append(Job.new(id="flaky-1", kind="flaky", now=now, max_attempts=5))
    jobs.append(
        Job.new(
            id="gated",
            kind="report",
            now=now,
            depends_on=tuple(j.id for j in jobs[:3]),
            follow_up=FollowUp("report", {"stage": 2}),
        )
    )
    app.store.submit(jobs)
    stop = threading.Event()
    daemon = threading.Thread(target=app.serve, args=(stop,), kwargs={"handle_signals": False})
    daemon.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and _open(app.store.counts()):
        time.sleep(0.05)
    stop.set()
    daemon.join()
    for job in sorted(app.store.list(), key=lambda j: j.id)[:5]:
        print(f"{job.id:12} {job.status.value:9} attempts={job.attempts} result={job.result!r}")
    print("...")
    for (queue, status), n in sorted(app.store.counts().items(), key=lambda kv: kv[0][1].value):
        print(f"{queue}: {n} {status.value}")
    return 1 if _open(app.store.counts()) else 0


def _open(counts: Mapping[tuple[str, Status], int]) -> int:
    return sum(n for (_, s), n in counts.items() if not s.terminal)


if __name__ == "__main__":
    raise SystemExit(main())
