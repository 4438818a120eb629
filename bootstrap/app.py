"""`App`: what a library user, the CLI and the HTTP API hold. It is built of the use cases
(`usecases/`) and the daemon (`daemon/`); `qrun.bootstrap.wiring.bootstrap` makes one."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import attrs

from qrun.adapters.runners.python_runner import TaskRegistry
from qrun.core import Policy
from qrun.core.ports import Clock, InputStore, JobStore, Opens

from .config import Config
from .daemon.serve import Daemon
from .runtime.apply import Applier
from .runtime.metrics import JobMetrics
from .runtime.periodic import Pruner, Scheduler
from .runtime.reaper import Reaper, Sanitizer
from .runtime.runners import Runners
from .runtime.worker import Worker
from .runtime.workflows import Triggers, Workflows
from .usecases.batches import BatchCases
from .usecases.queues import QueueCases
from .usecases.setup import declare_pools
from .usecases.tasks import TaskCases
from .usecases.workflows import WorkflowCases


@attrs.define
class App(TaskCases, BatchCases, WorkflowCases, QueueCases):
    config: Config
    store: JobStore
    tasks: TaskRegistry
    runners: Runners  # the one registry, shared with the worker and the reaper
    worker: Worker
    reaper: Reaper
    sanitizer: Sanitizer
    clock: Clock
    policy: Policy
    inputs: InputStore
    scheduler: Scheduler
    pruner: Pruner
    applier: Applier
    daemon: Daemon
    job_metrics: JobMetrics
    workflows: Workflows = attrs.field(factory=Workflows)
    triggers: Triggers | None = None
    knows_workflows: bool = True
    task_options: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    #: Called with each new job's id after `submit` stored it (the eager test mode runs it).
    after_submit: Callable[[str], None] | None = None

    def open(self) -> None:
        """Connect to the database now and check its schema, rather than on first use
        (`bootstrap()` opens nothing, so a module may make its app at import time)."""
        if isinstance(self.store, Opens):
            self.store.open()

    def close(self) -> None:
        """Close the store's connections (the app can be opened again by using it)."""
        self.store.close()

    def declare_pools(self) -> None:
        """Give each configured pool its size in the store (R-E3)."""
        declare_pools(self.store, self.config.pools)

    def serve(
        self, stop: threading.Event | None = None, *, handle_signals: bool = True, burst: bool = False
    ) -> None:
        """Worker, reaper and sanitizer until `stop` (or SIGTERM/SIGINT); then drain.
        `burst`: return once the queue has nothing to start and nothing runs."""
        self.daemon.serve(stop, handle_signals=handle_signals, burst=burst)
