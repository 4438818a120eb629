"""The Protocols a runner implements, and what else the runtime is handed: pools'
resources, input storage, notifiers and the clock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from .effects import Notify
from .errors import QrunError
from .job import Handle, Job, Run
from .pools import Placement
from .reaper import Liveness


# -- runners ---------------------------------------------------------------------------
@attrs.frozen
class Exit:
    """How an execution ended."""

    code: int
    result: object = None
    error: str | None = None
    transient: bool = False
    final: bool = False  # a failure retrying cannot mend: no further attempt


@attrs.frozen
class Adopted:
    """The runner took over a live (or finished) execution."""

    handle: Handle


@attrs.frozen
class Gone:
    """Nothing left to adopt (R-A6)."""


class RunnerUnavailable(QrunError):
    """A runner cannot start anything now (its engine is unreachable, an image is
    missing): a transient failure (R-C8), retried later without spending an attempt."""


class Runner(Protocol):
    name: str

    def spawn(self, job: Job, run: Run) -> Handle: ...

    def adopt(self, job: Job, run: Run) -> Adopted | Gone: ...

    def observe(self, handle: Handle) -> Liveness: ...

    def wait(self, handle: Handle, timeout_s: float | None) -> Exit | None:
        """The exit, or None if it has not ended within `timeout_s`."""

    def kill(self, handle: Handle) -> None: ...


@runtime_checkable
class InProcess(Protocol):
    """A runner whose executions live and die with this process (python callables). Its
    handle is never stamped in the store: another process could neither observe nor adopt
    it, so its liveness is the lease, and a claim starts it with no write of its own."""

    in_process: bool


@runtime_checkable
class ExitWatch(Protocol):
    """A runner that can say when an execution ends, so the worker wakes at once instead
    of polling for it."""

    def on_exit(self, handle: Handle, callback: Callable[[], None]) -> bool:
        """Call `callback` (from any thread) once the execution ends; False if this runner
        cannot watch it (an execution adopted from another process): poll it then."""


@runtime_checkable
class ExitPeek(Protocol):
    """A runner whose `wait` collects destructively (it copies the output out, or hands an
    outcome over once) offers the exit code without collecting it, for the reaper."""

    def exit_code(self, handle: Handle) -> int | None: ...


@runtime_checkable
class RunLogs(Protocol):
    """A runner whose runs leave their stdout and stderr on this host, readable by any
    process (`qrun logs`), by the job's id and its run."""

    def logs(self, job_id: str, run: Run) -> tuple[bytes, bytes]: ...


@runtime_checkable
class KeepsOutput(Protocol):
    """A runner that keeps what an execution wrote (a command's or a container's stdout and
    stderr), so a direct run can print it."""

    def output(self, handle: Handle) -> tuple[bytes, bytes]: ...


class PoolResource(Protocol):
    """What a pool's slots are on this host (R-E3), e.g. git worktrees. The store decides
    who holds a slot; this only makes the slot ready for the job that holds it."""

    name: str

    def prepare(self, slot: int) -> Placement:
        """Make `slot` ready (create it, reset it to a clean state) and say where the job
        runs. Raises with a message naming the pool and slot if it cannot."""


class InputStore(Protocol):
    def put(self, job_id: str, name: str, data: bytes) -> None: ...

    def get(self, job_id: str, name: str) -> bytes: ...

    def names(self, job_id: str) -> list[str]: ...

    def delete(self, job_id: str) -> None: ...


class Notifier(Protocol):
    def notify(self, note: Notify) -> None: ...


class Clock(Protocol):
    def now(self) -> datetime: ...
