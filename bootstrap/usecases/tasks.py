"""Python tasks: register them with their options, submit them through a typed handle,
and wait for their results."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar

import attrs

from qrun.adapters.runners.python_runner import check_timeout
from qrun.core import Status
from qrun.core.errors import InvalidCall, NotFound, QrunError
from qrun.core.ports import AsyncStore

from .jobs import JobCases, as_backoff

P = ParamSpec("P")
R = TypeVar("R")

#: The options `@app.task(...)` takes, as `submit` takes them.
OPTIONS = ("queue", "max_attempts", "priority", "pool", "concurrency_key", "concurrency_limit", "backoff")


class JobFailed(QrunError):
    """The job ended failed or cancelled; `error` holds its error (a python task's
    traceback included)."""

    def __init__(self, job_id: str, status: Status, error: str | None) -> None:
        super().__init__(f"job {job_id} ended {status.value}: {error or 'no error recorded'}")
        self.job_id, self.status, self.error = job_id, status, error


class JobNotFinished(QrunError, TimeoutError):
    """`result` gave up waiting."""


@attrs.frozen
class Task(Generic[P, R]):
    """What `@app.task()` returns: the function itself when called, and `.submit(...)`
    to enqueue a run of it, its arguments checked against its signature first."""

    fn: Callable[P, R]
    name: str
    _submit: Callable[..., str]
    _submit_async: Callable[..., Awaitable[str]]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return self.fn(*args, **kwargs)

    async def submit_async(self, **kwargs: Any) -> str:
        """`submit` for an async caller (a FastAPI handler): the event loop never waits
        on the database."""
        return await self._submit_async(self.name, dict(kwargs))

    def submit(self, *args: P.args, **kwargs: P.kwargs) -> str:
        """Enqueue a run with these arguments (by name); returns the job's id. Arguments
        that do not fit the function are refused here: nothing is enqueued."""
        if args:
            raise InvalidCall(f"{self.name}.submit takes its arguments by name (they are stored as JSON)")
        return self._submit(self.name, dict(kwargs))


class TaskCases(JobCases):
    def task(
        self,
        name: str | None = None,
        *,
        unique: bool = False,
        timeout_s: float | None = None,
        **options: Any,
    ) -> Callable[[Callable[P, R]], Task[P, R]]:
        """`@app.task(queue=..., max_attempts=..., backoff=Backoff(base_s=10), priority=...,
        pool=..., unique=True, timeout_s=30)`: register a python task, runnable by this
        app's workers. Its options are each submit's defaults; `backoff` spaces its retries
        (else the daemon's policy does); `unique` keeps one job per set of arguments queued
        or running (R-F1); `timeout_s` fails a run of an `async def` task that takes longer
        (it is cancelled; the failure retries like any other)."""
        wrong = sorted(set(options) - set(OPTIONS))
        if wrong:
            raise InvalidCall(
                f"unknown task option(s) {', '.join(wrong)}; a task takes "
                f"{', '.join(OPTIONS)}, unique, timeout_s"
            )
        if "backoff" in options:
            options["backoff"] = as_backoff(options["backoff"])
        check_timeout(timeout_s)

        def wrap(fn: Callable[P, R]) -> Task[P, R]:
            key = name or fn.__name__
            self.tasks.task(key, timeout_s=timeout_s)(fn)
            self.runners[key] = self.runners["python"]  # the one registry: the worker's too
            self.task_options[key] = {**options, **({"unique": True} if unique else {})}
            return Task(fn, key, self.submit, self.submit_async)

        return wrap

    async def submit_async(
        self, kind: str, payload: Mapping[str, Any] | None = None, *, connection: Any = None, **options: Any
    ) -> str:
        """`submit` from async code: the event loop goes on serving. On PostgreSQL it runs
        on psycopg's async connections; `connection`: your open AsyncConnection's
        transaction, which the submit joins (R-F5). Other stores are written in a worker
        thread."""
        if connection is not None:
            inputs = options.pop("inputs", None)
            job = self._prepared(kind, payload, options)
            got = (await self._joining(inputs).submit_async([job], connection=connection))[0]
            self.worker.wake.set()
            return got
        if not isinstance(self.store, AsyncStore) or options.get("inputs") or self.after_submit:
            return await asyncio.to_thread(functools.partial(self.submit, kind, payload, **options))
        job = self._prepared(kind, payload, options)
        got = (await self.store.submit_async([job]))[0]
        self._submitted([job], [got])
        return got

    async def submit_batch_async(
        self, jobs: Iterable[Mapping[str, Any]], *, batch: str | None = None, **common: Any
    ) -> str:
        """`submit_batch` from async code, on psycopg's async connections where the store
        has them."""
        if not isinstance(self.store, AsyncStore) or self.after_submit:
            return await asyncio.to_thread(
                functools.partial(self.submit_batch, list(jobs), batch=batch, **common)
            )
        batch, made = self._batch(jobs, batch, common)
        self._submitted(made, await self.store.submit_async(made))
        return batch

    async def result_async(self, job_id: str, *, timeout_s: float | None = None, poll_s: float = 0.1) -> Any:
        """`result` from async code: it sleeps on the event loop between looks."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            job = (
                await self.store.get_async(job_id)
                if isinstance(self.store, AsyncStore)
                else await asyncio.to_thread(self.job, job_id)
            )
            if job is None:
                raise NotFound(f"no such job(s): {job_id}")
            if job.status.terminal:
                return self.result(job_id, timeout_s=0)
            if deadline is not None and time.monotonic() >= deadline:
                raise JobNotFinished(f"job {job_id} has not finished after {timeout_s}s")
            await asyncio.sleep(poll_s)

    def result(self, job_id: str, *, timeout_s: float | None = None, poll_s: float = 0.1) -> Any:
        """Wait for the job and return its result (a task's return value). Raises JobFailed
        (with the task's error and traceback) if it failed or was cancelled, and
        JobNotFinished if `timeout_s` passed first."""
        ended = self.wait_jobs([job_id], timeout_s=timeout_s, poll_s=poll_s)
        if not ended:
            raise JobNotFinished(f"job {job_id} has not finished after {timeout_s}s")
        job = ended[0]
        if job.status is not Status.DONE:
            raise JobFailed(job.id, job.status, job.error)
        return job.result
