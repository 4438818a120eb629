"""A runner for tests: a registered python task runs in the thread that collects its
exit (the caller's, under `qrun.bootstrap.testing.drain`), so a test steps through a job
deterministically."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from qrun.core import Handle, Job, Liveness, Run
from qrun.core.ports import Adopted, Exit, Gone

from .command import InvalidPayload
from .python_runner import TaskRegistry, Transient, failure, within

NAME = "inline"


class InlineRunner:
    """Runs a registered task in the thread that collects its exit (the caller's, under
    `drain`), after its spawn is recorded, as a real runner would be."""

    name = NAME
    in_process = True

    def __init__(self, tasks: TaskRegistry) -> None:
        self.tasks = tasks
        self._pending: dict[str, tuple[Callable[..., Any], Job]] = {}

    def spawn(self, job: Job, run: Run) -> Handle:
        fn = self.tasks.get(job.kind)
        if fn is None:
            known = ", ".join(self.tasks.names()) or "none"
            raise InvalidPayload(f"no task named {job.kind!r} is registered (registered: {known})")
        self._pending[run.id] = (fn, job)
        return Handle(NAME, run.id)

    def adopt(self, job: Job, run: Run) -> Adopted | Gone:
        return Adopted(Handle(NAME, run.id)) if run.id in self._pending else Gone()

    def observe(self, handle: Handle) -> Liveness:
        return Liveness.ALIVE if handle.ref in self._pending else Liveness.DEAD

    def wait(self, handle: Handle, timeout_s: float | None) -> Exit | None:
        task = self._pending.pop(handle.ref, None)
        if task is None:
            return Exit(code=-1, error="the task is not known to this runner")
        fn, job = task
        try:
            result = fn(**dict(job.payload))
            if inspect.iscoroutine(result):  # an async def task: run to its end here
                result = _run_to_end(within(result, job.kind, self.tasks.timeout(job.kind)))
            return Exit(code=0, result=result)
        except Transient as exc:
            return Exit(code=1, error=str(exc) or "transient failure", transient=True)
        except Exception as exc:  # the task's failure is the job's outcome
            return Exit(code=1, error=failure(exc))

    def kill(self, handle: Handle) -> None:
        self._pending.pop(handle.ref, None)


def _run_to_end(coroutine: Any) -> Any:
    """A coroutine's value; on a thread of its own when this one already runs an event
    loop (a test draining from inside async code)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
