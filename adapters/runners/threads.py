"""Runs in this process's threads, by handle: what the python runner and the session
runner share. A run lives and dies with its process, so only a run started here can be
adopted here; a ref carries this process's instance, so another's never matches."""

from __future__ import annotations

import concurrent.futures
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from qrun.core import Handle, Job, Liveness, Run
from qrun.core.ports import Adopted, Exit, Gone


class ThreadRuns:
    def __init__(self, runner: str, *, threads: int, thread_prefix: str) -> None:
        self.runner = runner
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=thread_prefix)
        self._futures: dict[str, Future[Any]] = {}
        self._lock = threading.Lock()
        self._instance = uuid.uuid4().hex[:8]

    def ref(self, job: Job, run: Run) -> str:
        return f"{self._instance}:{job.id}:{run.id}"

    def start(self, job: Job, run: Run, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Handle:
        ref = self.ref(job, run)
        with self._lock:
            self._futures[ref] = self._pool.submit(fn, *args, **kwargs)
        return Handle(self.runner, ref)

    def track(self, job: Job, run: Run, future: Future[Any]) -> Handle:
        """A run whose future something else drives (an event loop's coroutine)."""
        ref = self.ref(job, run)
        with self._lock:
            self._futures[ref] = future
        return Handle(self.runner, ref)

    def adopt(self, job: Job, run: Run) -> Adopted | Gone:
        ref = self.ref(job, run)
        with self._lock:
            return Adopted(Handle(self.runner, ref)) if ref in self._futures else Gone()

    def future(self, handle: Handle) -> Future[Any] | None:
        with self._lock:
            return self._futures.get(handle.ref)

    def on_exit(self, handle: Handle, callback: Callable[[], None]) -> bool:
        future = self.future(handle)
        if future is None:
            return False
        future.add_done_callback(lambda _: callback())
        return True

    def observe(self, handle: Handle) -> Liveness:
        future = self.future(handle)
        return Liveness.ALIVE if future is not None and not future.done() else Liveness.DEAD

    def ended(self, handle: Handle) -> Future[Any] | None:
        """The run's future once it is done, left in place (the reaper reads it; only
        `wait` hands the outcome over)."""
        future = self.future(handle)
        return future if future is not None and future.done() else None

    def wait(
        self, handle: Handle, timeout_s: float | None, outcome: Callable[[Future[Any]], Exit], gone: str
    ) -> Exit | None:
        """The run's outcome (by `outcome`, once), None if it has not ended within
        `timeout_s`, or an exit saying `gone` for a run this process never started."""
        future = self.future(handle)
        if future is None:
            return Exit(code=-1, error=gone)
        if not future.done():  # the worker asks with 0 for every run it was told ended
            if timeout_s == 0:
                return None
            concurrent.futures.wait([future], timeout=timeout_s)
            if not future.done():
                return None
        done = outcome(future)
        with self._lock:
            self._futures.pop(handle.ref, None)
        return done

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
