"""What the use cases reach. The composition root (`qrun.bootstrap.wiring`) sets every
part; a use case only reads them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qrun.adapters.runners.python_runner import TaskRegistry
from qrun.core import Policy
from qrun.core.ports import Clock, InputStore, JobStore

from ..config import Config
from ..runtime.apply import Applier
from ..runtime.metrics import JobMetrics
from ..runtime.periodic import Pruner, Scheduler
from ..runtime.reaper import Reaper, Sanitizer
from ..runtime.runners import Runners
from ..runtime.worker import Worker
from ..runtime.workflows import Triggers, Workflows


class Parts:
    config: Config
    store: JobStore
    clock: Clock
    policy: Policy
    inputs: InputStore
    tasks: TaskRegistry
    runners: Runners  # the one registry, shared with the worker and the reaper
    worker: Worker
    reaper: Reaper
    sanitizer: Sanitizer
    scheduler: Scheduler
    pruner: Pruner
    applier: Applier
    job_metrics: JobMetrics
    workflows: Workflows
    triggers: Triggers | None
    #: False when the app holds none of the application's code (the bare CLI): it cannot
    #: tell which workflows exist.
    knows_workflows: bool
    #: Each python task's submit defaults (`@app.task(queue=...)`).
    task_options: dict[str, dict[str, Any]]
    #: Called with each new job's id after `submit` stored it (the eager test mode runs it).
    after_submit: Callable[[str], None] | None
