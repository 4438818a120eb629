"""Workflows (R-D1..R-D9): define them, start, pause and resume them, publish events, and
read their sessions. Every entry point goes through these, so a workflow nobody defined
is refused the same way everywhere."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from qrun.adapters.ids import new_id
from qrun.adapters.runners.sessions import command_handler
from qrun.core.errors import NotFound, Unsupported
from qrun.core.ports import WorkflowStore
from qrun.core.topics import EventStatus, TopicEvent
from qrun.core.workflow import Trigger, WorkflowSpec, session_queue

from ..runtime.workflows import Workflow, start_session
from ..workflow_views import run_view, sessions_view, workflows_view
from .base import Parts


class WorkflowCases(Parts):
    def handler(self, name: str | None = None) -> Callable[[Any], Any]:
        """`@app.handler()`: a workflow's producer or consumer. It gets a SessionContext
        (`ctx.events` to consume, `ctx.publish(payload)`) and may return its cost."""
        return self.workflows.handler(name)

    def command_handler(
        self, name: str, argv: Sequence[str], *, timeout_s: float | None = None, cwd: str | None = None
    ) -> None:
        """A handler that runs a command (see `adapters.runners.sessions.command_handler`)."""
        self.workflows.handler(name)(command_handler(argv, timeout_s=timeout_s, cwd=cwd))

    def workflow(
        self,
        name: str,
        *,
        producers: Iterable[str] = (),
        consumers: Iterable[str] = (),
        topic: str | None = None,
        max_iterations: int = 10,
        schedule: str | None = None,
        on_event: bool = False,
    ) -> None:
        """Define a workflow: producers run first, then consumers iterate over the events
        of `topic` within `max_iterations`; started by hand (`trigger`), on each slot of
        `schedule` (cron, UTC) and, with `on_event`, when an event is published on `topic`."""
        spec = WorkflowSpec(
            name=name, producers=producers, consumers=consumers, topic=topic, max_iterations=max_iterations
        )
        self.workflows.add(Workflow(spec, schedule, on_event))

    def trigger(self, workflow: str) -> str:
        """Start a session by hand (R-D3), or get the active one's id (R-D6). This is also
        how a workflow in error is started again. A name this app does not define is
        refused, unless the app holds no application code (`knows_workflows` False: the
        bare CLI); then a worker that lacks the workflow fails the session, naming the
        workflows it has, without putting a workflow in error."""
        store = self._workflow_store()
        if self.knows_workflows and workflow not in self.workflows.workflows:
            known = ", ".join(sorted(self.workflows.workflows)) or "none"
            raise NotFound(f"no workflow named {workflow!r} (defined: {known})")
        store.set_workflow_error(workflow, None, self.clock.now())
        return start_session(store, self.clock, workflow, Trigger.MANUAL)

    def publish(self, topic: str, payload: Mapping[str, Any] | None = None) -> str:
        """Publish an event; workflows started by events on `topic` get a session (R-D3)."""
        store = self._workflow_store()
        event = TopicEvent(
            id=new_id(), topic=topic, payload=dict(payload or {}), published_at=self.clock.now()
        )
        store.publish([event])
        if self.triggers is not None:
            self.triggers.tick(topic=topic)
        return event.id

    def pause_workflow(self, workflow: str) -> None:
        """Its sessions, new or interrupted, wait until `resume_workflow` (R-D8)."""
        self.store.pause(session_queue(workflow))

    def resume_workflow(self, workflow: str) -> None:
        self.store.resume(session_queue(workflow))

    def events(self, topic: str, status: EventStatus | None = None, *, limit: int = 100) -> list[TopicEvent]:
        return self._workflow_store().events(topic, status, limit=limit)

    def workflows_view(self) -> dict[str, dict[str, Any]]:
        """Each workflow with its status (active, paused, error), sessions and cost."""
        return workflows_view(self._workflow_store(), self.workflows)

    def sessions(self, workflow: str, *, runs: bool = False) -> list[dict[str, Any]]:
        return sessions_view(self._workflow_store(), workflow, runs=runs)

    def session_runs(self, session_id: str) -> list[dict[str, Any]]:
        return [run_view(r) for r in self._workflow_store().handler_runs(session_id)]

    def _workflow_store(self) -> WorkflowStore:
        if not isinstance(self.store, WorkflowStore):
            raise Unsupported(
                f"{type(self.store).__name__} does not implement the EventStore and SessionStore ports "
                "(qrun.core.ports), which workflows need; the memory, SQLite and PostgreSQL stores do"
            )
        return self.store
