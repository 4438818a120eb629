"""The python runner: registered callables run in the worker's threads.

A task is `fn(**job.payload)`; its return value (plain JSON) is the job's result. It
raises `Transient` for a failure that should not spend an attempt (R-C8). A callable
lives and dies with its worker: there is nothing to adopt after a crash, so such a job
is re-run (at least once, R-G5), unlike commands and containers.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from qrun.core import Handle, Job, Liveness, Run
from qrun.core.ports import Adopted, Exit, Gone

from .command import InvalidPayload

NAME = "python"
F = TypeVar("F", bound=Callable[..., Any])


class Transient(Exception):
    """Raise from a task for a failure that should be retried without spending an attempt."""


class TaskRegistry:
    """Named callables. `@tasks.task()` registers a function under its name."""

    def __init__(self) -> None:
        self._tasks: dict[str, Callable[..., Any]] = {}

    def task(self, name: str | None = None) -> Callable[[F], F]:
        def register(fn: F) -> F:
            key = name or fn.__name__
            if key in self._tasks and self._tasks[key] is not fn:
                raise ValueError(f"a task named {key!r} is registered already")
            self._tasks[key] = fn
            return fn

        return register

    def get(self, name: str) -> Callable[..., Any] | None:
        return self._tasks.get(name)

    def names(self) -> list[str]:
        return sorted(self._tasks)


class PythonRunner:
    name = NAME

    def __init__(self, tasks: TaskRegistry, *, threads: int = 8) -> None:
        self.tasks = tasks
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="qrun-task")
        self._futures: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()
        self._instance = uuid.uuid4().hex[:8]  # refs of another process never match ours

    def spawn(self, job: Job, run: Run) -> Handle:
        fn = self.tasks.get(job.kind)
        if fn is None:
            known = ", ".join(self.tasks.names()) or "none"
            raise InvalidPayload(f"no task named {job.kind!r} is registered (registered: {known})")
        ref = f"{self._instance}:{job.id}:{run.id}"
        with self._lock:
            self._futures[ref] = self._pool.submit(fn, **dict(job.payload))
        return Handle(NAME, ref)

    def adopt(self, job: Job, run: Run) -> Adopted | Gone:
        ref = f"{self._instance}:{job.id}:{run.id}"
        with self._lock:
            return Adopted(Handle(NAME, ref)) if ref in self._futures else Gone()

    def observe(self, handle: Handle) -> Liveness:
        with self._lock:
            future = self._futures.get(handle.ref)
        return Liveness.ALIVE if future is not None and not future.done() else Liveness.DEAD

    def exit_code(self, handle: Handle) -> int | None:
        """0 or 1 once the task has ended, without collecting it: `wait` hands the outcome
        over once, to the worker that holds the run (see the reaper)."""
        with self._lock:
            future = self._futures.get(handle.ref)
        if future is None or not future.done():
            return None
        return 0 if not future.cancelled() and future.exception() is None else 1

    def wait(self, handle: Handle, timeout_s: float | None) -> Exit | None:
        with self._lock:
            future = self._futures.get(handle.ref)
        if future is None:
            return Exit(code=-1, error="the task ran in another worker process, which is gone")
        try:
            result = future.result(timeout=timeout_s)
        except TimeoutError:
            return None
        except Transient as exc:
            done: Exit = Exit(code=1, error=str(exc) or "transient failure", transient=True)
        except Exception as exc:  # the task's failure is the job's outcome
            done = Exit(code=1, error=f"{type(exc).__name__}: {exc}")
        else:
            done = Exit(code=0, result=result)
        with self._lock:
            self._futures.pop(handle.ref, None)
        return done

    def kill(self, handle: Handle) -> None:
        """A running thread cannot be stopped from outside; a task that honours
        cancellation should check for it. Not yet started: it never runs."""
        with self._lock:
            future = self._futures.get(handle.ref)
        if future is not None:
            future.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
