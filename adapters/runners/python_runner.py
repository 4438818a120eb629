"""The python runner: registered callables run in the worker's threads.

A task is `fn(**job.payload)`; its return value (plain JSON) is the job's result. It
raises `Transient` for a failure that should not spend an attempt (R-C8). A callable
lives and dies with its worker: there is nothing to adopt after a crash, so such a job
is re-run (at least once, R-G5), unlike commands and containers.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
import traceback
from collections.abc import Awaitable, Callable
from concurrent.futures import CancelledError, Future
from typing import Any, TypeVar

from qrun.core import Handle, Job, Liveness, Run
from qrun.core.errors import AlreadyDefined, InvalidInput, QrunError
from qrun.core.ports import Adopted, Exit, Gone

from .command import InvalidPayload
from .threads import ThreadRuns

NAME = "python"
F = TypeVar("F", bound=Callable[..., Any])


class Transient(QrunError):
    """Raise from a task for a failure that should be retried without spending an attempt."""


class TaskTimedOut(QrunError, TimeoutError):
    """A run of an async task took longer than its `timeout_s` and was cancelled."""


MAX_TIMEOUT_S = 7 * 86400.0


def check_timeout(timeout_s: object) -> None:
    """A task's `timeout_s`: None, or seconds above 0 and at most a week."""
    if timeout_s is None:
        return
    if (
        isinstance(timeout_s, bool)
        or not isinstance(timeout_s, int | float)
        or not 0 < timeout_s <= MAX_TIMEOUT_S
    ):
        raise InvalidInput(f"timeout_s must be seconds above 0, at most {MAX_TIMEOUT_S:g}; got {timeout_s!r}")


class TaskRegistry:
    """Named callables. `@tasks.task()` registers a function under its name."""

    def __init__(self) -> None:
        self._tasks: dict[str, Callable[..., Any]] = {}
        self._timeouts: dict[str, float] = {}

    def task(self, name: str | None = None, *, timeout_s: float | None = None) -> Callable[[F], F]:
        """`timeout_s`: a run of the task that takes longer fails. Only for `async def`
        tasks, which are cancelled then: a thread cannot be stopped, so a plain function
        would go on running after its run was declared over (and maybe retried)."""
        check_timeout(timeout_s)

        def register(fn: F) -> F:
            key = name or fn.__name__
            if key in self._tasks and self._tasks[key] is not fn:
                raise AlreadyDefined(f"a task named {key!r} is registered already")
            if timeout_s is not None and not inspect.iscoroutinefunction(fn):
                raise InvalidInput(
                    f"timeout_s needs an async def task, and {key} is a plain function: a thread "
                    "cannot be stopped, so it would run on after its timeout; make it async def, "
                    "or run it as a command, whose payload takes a timeout_s"
                )
            self._tasks[key] = fn
            if timeout_s is not None:
                self._timeouts[key] = float(timeout_s)
            return fn

        return register

    def get(self, name: str) -> Callable[..., Any] | None:
        return self._tasks.get(name)

    def timeout(self, name: str) -> float | None:
        return self._timeouts.get(name)

    def names(self) -> list[str]:
        return sorted(self._tasks)


class PythonRunner:
    name = NAME
    #: A task dies with its worker: nothing to stamp, its lease is its liveness.
    in_process = True

    def __init__(self, tasks: TaskRegistry, *, threads: int = 8, async_slots: int = 100) -> None:
        """`threads` run plain functions; `async def` tasks run on one event loop of this
        runner's, at most `async_slots` at once (the rest wait their turn on the loop)."""
        self.tasks = tasks
        self._runs = ThreadRuns(NAME, threads=threads, thread_prefix="qrun-task")
        self._async_slots = async_slots
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limit: asyncio.Semaphore | None = None
        self._loop_lock = threading.Lock()

    def spawn(self, job: Job, run: Run) -> Handle:
        fn = self.tasks.get(job.kind)
        if fn is None:
            known = ", ".join(self.tasks.names()) or "none"
            raise InvalidPayload(f"no task named {job.kind!r} is registered (registered: {known})")
        if inspect.iscoroutinefunction(fn):
            loop = self._event_loop()
            return self._runs.track(job, run, asyncio.run_coroutine_threadsafe(self._bounded(fn, job), loop))
        return self._runs.start(job, run, fn, **dict(job.payload))

    async def _bounded(self, fn: Callable[..., Any], job: Job) -> Any:
        assert self._limit is not None
        async with self._limit:
            return await within(fn(**dict(job.payload)), job.kind, self.tasks.timeout(job.kind))

    def _event_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                self._limit = asyncio.Semaphore(self._async_slots)
                threading.Thread(target=loop.run_forever, name="qrun-async-tasks", daemon=True).start()
                self._loop = loop
            return self._loop

    def adopt(self, job: Job, run: Run) -> Adopted | Gone:
        return self._runs.adopt(job, run)

    def observe(self, handle: Handle) -> Liveness:
        return self._runs.observe(handle)

    def on_exit(self, handle: Handle, callback: Callable[[], None]) -> bool:
        return self._runs.on_exit(handle, callback)

    def exit_code(self, handle: Handle) -> int | None:
        """0 or 1 once the task has ended, without collecting it: `wait` hands the outcome
        over once, to the worker that holds the run (see the reaper)."""
        future = self._runs.ended(handle)
        if future is None:
            return None
        return 0 if not future.cancelled() and future.exception() is None else 1

    def wait(self, handle: Handle, timeout_s: float | None) -> Exit | None:
        return self._runs.wait(
            handle, timeout_s, _outcome, "the task ran in another worker process, which is gone"
        )

    def kill(self, handle: Handle) -> None:
        """A running thread cannot be stopped from outside; a task that honours
        cancellation should check for it. Not yet started: it never runs."""
        future = self._runs.future(handle)
        if future is not None:
            future.cancel()

    def close(self, *, grace_s: float = 5.0) -> None:
        """Stop the runner. Its async tasks end with it: each is cancelled, including one
        scheduled but not yet started (stopping the loop alone would leave it pending, its
        coroutine never run), and the loop stops once they have ended or `grace_s` passed."""
        self._runs.close()
        if self._loop is not None:
            ended = asyncio.run_coroutine_threadsafe(_cancel_all(), self._loop)
            with contextlib.suppress(TimeoutError, CancelledError):
                ended.result(grace_s)
            self._loop.call_soon_threadsafe(self._loop.stop)


async def _cancel_all() -> None:
    here = asyncio.current_task()
    tasks = [t for t in asyncio.all_tasks() if t is not here]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def within(run: Awaitable[Any], kind: str, limit: float | None) -> Any:
    """`run`'s value, or TaskTimedOut once it has run `limit` seconds (it is cancelled)."""
    if limit is None:
        return await run
    try:
        return await asyncio.wait_for(run, limit)
    except TimeoutError:
        raise TaskTimedOut(f"task {kind} ran past its timeout_s of {limit:g}s") from None


def _outcome(future: Future[Any]) -> Exit:
    try:
        result = future.result()
    except Transient as exc:
        return Exit(code=1, error=str(exc) or "transient failure", transient=True)
    except Exception as exc:  # the task's failure is the job's outcome
        return Exit(code=1, error=failure(exc))
    return Exit(code=0, result=result)


MAX_TRACEBACK = 8000
_PLUMBING = (
    "concurrent/futures/",
    "asyncio/",
    "qrun/adapters/runners/",
    "adapters/runners/python_runner.py",
    "adapters/runners/inline.py",
)


def failure(exc: BaseException) -> str:
    """`Type: message` on the first line (what lists show), then the traceback (what
    `qrun show` and `app.result` show), its last MAX_TRACEBACK characters."""
    shown = traceback.TracebackException.from_exception(exc)
    # The task's own frames: not those of the thread pool and runner that called it.
    shown.stack = traceback.StackSummary.from_list(
        [f for f in shown.stack if not any(part in f.filename for part in _PLUMBING)]
    )
    trace = "".join(shown.format()).rstrip()
    if len(trace) > MAX_TRACEBACK:
        trace = "...\n" + trace[-MAX_TRACEBACK:]
    return f"{type(exc).__name__}: {exc}\n\n{trace}"
