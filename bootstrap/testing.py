"""Test helpers for library users (R-F7), in the spirit of Oban.Testing and rivertest:
an app on the memory store whose python tasks run in the caller's thread, `drain` to run
everything that is ready, an eager mode that runs each job as it is submitted, and
assertions on what was enqueued.

    from qrun.bootstrap.testing import assert_enqueued, app_for_tests

    app = app_for_tests(eager=True)

    @app.task()
    def send(to: str) -> str:
        return f"sent to {to}"

    job_id = app.submit("send", {"to": "a@example.com"})   # ran already, in this thread
    assert app.store.get(job_id).result == "sent to a@example.com"

Every job still goes through the real transitions and a real store, so what passes here
is what the daemon does; only the task's thread differs.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from typing import Any

import attrs

from qrun.adapters.memory import MemoryStore
from qrun.adapters.runners.inline import NAME, InlineRunner
from qrun.adapters.runners.python_runner import TaskRegistry
from qrun.core import Job, Status
from qrun.core.errors import QrunError
from qrun.core.ports import Clock, JobFilter, JobStore

from .app import App
from .config import load
from .wiring import bootstrap


@attrs.frozen
class Drained:
    """What a `drain` finished, by final status."""

    done: int = 0
    failed: int = 0
    cancelled: int = 0


class DrainTimedOut(QrunError, TimeoutError):
    """`drain` gave up: runs were still going after its `timeout_s`."""


class EagerJobFailed(QrunError, AssertionError):
    """In eager mode, a submitted job did not end `done`; the message has its error."""


def drain(app: App, *, max_ticks: int = 100_000, timeout_s: float = 60.0) -> Drained:
    """Run every job that is ready now (and what they enqueue) until nothing is left to
    claim; python tasks run in this thread. Jobs waiting on a delay or a retry backoff
    stay queued: advance a FakeClock and drain again."""
    worker = app.worker
    before = _finished(app.store)
    deadline = time.monotonic() + timeout_s
    idle = 0
    for _ in range(max_ticks):
        snapshot = app.store.counts()
        worker.tick()
        if worker.inflight:
            idle = 0
            if time.monotonic() > deadline:
                raise DrainTimedOut(f"drain: jobs {sorted(worker.inflight)} still running after {timeout_s}s")
            if not all(i.handle.runner == NAME for i in worker.inflight.values()):
                time.sleep(0.01)  # a command or container: wait for it in real time
            continue
        idle = idle + 1 if app.store.counts() == snapshot else 0
        if idle >= 2:
            break
    after = _finished(app.store)
    return Drained(**{s.value: after[s] - before[s] for s in (Status.DONE, Status.FAILED, Status.CANCELLED)})


def app_for_tests(
    tasks: TaskRegistry | None = None,
    *,
    eager: bool = False,
    store: JobStore | None = None,
    clock: Clock | None = None,
    **settings: Any,
) -> App:
    """An app for tests: the memory store unless `store` is given, no HTTP, python tasks
    in the caller's thread. `eager=True`: `submit` runs the job (and whatever it enqueues)
    before it returns, and raises EagerJobFailed if the job did not end `done`."""
    tasks = tasks or TaskRegistry()
    settings.setdefault("http_port", 0)
    settings.setdefault("slots", 1)
    config = load(env={}, **settings)
    app = bootstrap(config, store=store or MemoryStore(), tasks=tasks, clock=clock)
    app.declare_pools()  # what `qrun migrate` and a starting daemon do
    inline = InlineRunner(tasks)
    app.runners["python"] = inline  # the one registry: the worker's and the reaper's too
    for name in tasks.names():
        app.runners[name] = inline
    if eager:

        def run_now(job_id: str) -> None:
            drain(app)
            job = app.store.get(job_id)
            if job is not None and job.status is not Status.DONE and not _waiting(job):
                raise EagerJobFailed(f"job {job_id} ({job.kind}) ended {job.status.value}: {job.error}")

        app.after_submit = run_now
    return app


def enqueued(
    store: JobStore,
    *,
    kind: str | None = None,
    queue: str | None = None,
    payload: Mapping[str, Any] | None = None,
    status: Status | None = Status.QUEUED,
) -> list[Job]:
    """Jobs matching every given field; `payload` matches a subset of the job's payload."""
    found = store.list(JobFilter(status=status, queue=queue, kind=kind, limit=100_000))
    if payload is not None:
        found = [j for j in found if all(k in j.payload and j.payload[k] == v for k, v in payload.items())]
    return found


def assert_enqueued(store: JobStore, **match: Any) -> Job:
    """The one job matching `match` (see `enqueued`); fails listing what is there."""
    found = enqueued(store, **match)
    if len(found) != 1:
        there = [(j.kind, j.queue, dict(j.payload), j.status.value) for j in store.list(JobFilter(limit=50))]
        raise AssertionError(f"expected one job matching {match}, found {len(found)}; jobs: {there}")
    return found[0]


def refute_enqueued(store: JobStore, **match: Any) -> None:
    found = enqueued(store, **match)
    if found:
        raise AssertionError(f"expected no job matching {match}, found {[j.id for j in found]}")


def _finished(store: JobStore) -> Counter[Status]:
    out: Counter[Status] = Counter()
    for (_, status), n in store.counts().items():
        out[status] += n
    return out


def _waiting(job: Job) -> bool:
    """Queued for later (a delay, a backoff after a failed attempt counts as a failure)."""
    return job.status is Status.QUEUED and job.attempts == 0
