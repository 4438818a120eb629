"""Workflow sessions at run time (R-D1..R-D9), on the primitives that exist:

- A session is a job of kind `qrun.session` on the workflow's own queue
  (`workflow.NAME`), holding the unique key `workflow:NAME` while queued or running, so
  at most one session of a workflow exists at a time, however many starters race
  (R-D6: the store's unique index decides, never a read before a write).
- `qrun.adapters.runners.sessions.SessionRunner` runs it through the Runner port.
- Pausing a workflow pauses its queue: its sessions, new or interrupted, wait (R-D8).
- Schedules and events start sessions through `Triggers` (R-D3).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

import attrs

from qrun.adapters.ids import new_id
from qrun.adapters.runners.sessions import Handler
from qrun.core import Job, Unique
from qrun.core.errors import AlreadyDefined, InvalidInput
from qrun.core.ports import Clock, DuplicateJob, JobStore, WorkflowStore
from qrun.core.schedule import due
from qrun.core.workflow import SESSION_KIND, Trigger, WorkflowSpec, session_key, session_queue

from .periodic import cron_expression, latest_slot


@attrs.frozen
class Workflow:
    spec: WorkflowSpec
    schedule: str | None = None  # cron (UTC): each slot starts a session (R-D3)
    on_event: bool = False  # an event published on its topic starts a session (R-D3)


class Workflows:
    """The workflows and handlers an app knows (the session runner reads them)."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}
        self.workflows: dict[str, Workflow] = {}

    def handler(self, name: str | None = None) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            key = name or fn.__name__
            if key in self.handlers and self.handlers[key] is not fn:
                raise AlreadyDefined(f"a handler named {key!r} is registered already")
            self.handlers[key] = fn
            return fn

        return register

    def add(self, workflow: Workflow) -> None:
        name = workflow.spec.name
        if name in self.workflows:
            raise AlreadyDefined(f"workflow {name!r} is defined twice")
        if workflow.schedule is not None:
            try:
                cron_expression(workflow.schedule)
            except ValueError as bad:
                raise InvalidInput(f"workflow {name}: schedule {bad}") from None
        if workflow.on_event and not workflow.spec.topic:
            raise InvalidInput(f"workflow {name}: on_event needs a topic")
        self.workflows[name] = workflow


def start_session(
    store: JobStore, clock: Clock, workflow: str, trigger: Trigger, *, job_id: str | None = None
) -> str:
    """Start a session of `workflow`, or, if one is queued or running, return its id (R-D6)."""
    job = Job.new(
        id=job_id or new_id(),
        kind=SESSION_KIND,
        now=clock.now(),
        payload={"workflow": workflow, "trigger": trigger.value},
        queue=session_queue(workflow),
        unique=Unique(session_key(workflow)),
        max_attempts=5,  # each crash resume spends one (R-G4)
    )
    return store.submit([job])[0]


class Triggers:
    """Schedule and event triggers (R-D3), ticked by the daemon's scheduler thread. A
    workflow that is paused or in error is not started by them; a manual trigger is the
    way out of error."""

    def __init__(self, workflows: Workflows, store: WorkflowStore, clock: Clock, *, grace_s: float) -> None:
        self.workflows, self.store, self.clock = workflows, store, clock
        self.grace = timedelta(seconds=grace_s)
        self._fired: dict[str, datetime] = {}
        self.started_total = 0

    def tick(self, *, topic: str | None = None) -> list[str]:
        """Start what is due: each workflow's schedule slot, and a session for each
        workflow run on events that has events pending. With `topic` (just published on),
        only the workflows run on events of that topic."""
        now = self.clock.now()
        paused, errors = self.store.paused(), self.store.workflow_errors()
        out: list[str] = []
        for name, wf in self.workflows.workflows.items():
            if session_queue(name) in paused or name in errors:
                continue
            if topic is None and wf.schedule is not None:
                slot = latest_slot(wf.schedule, now)
                if due(slot, now, self.grace) and self._fired.get(name) != slot:
                    self._fired[name] = slot
                    # The slot's id makes it fire once across daemons; the unique key skips it
                    # while a session is active.
                    slot_id = f"session-{name}-{slot:%Y%m%dT%H%M%S}"
                    with contextlib.suppress(DuplicateJob):
                        out.append(
                            start_session(self.store, self.clock, name, Trigger.SCHEDULE, job_id=slot_id)
                        )
            if not wf.on_event or not wf.spec.topic or topic not in (None, wf.spec.topic):
                continue
            if self.store.available(wf.spec.topic, now) > 0:
                out.append(start_session(self.store, self.clock, name, Trigger.EVENT))
        self.started_total += len(out)
        return out
