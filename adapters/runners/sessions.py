"""Workflow sessions run in threads of this worker, through the Runner port (R-D1..R-D9).

Each step is asked of `core.workflow.next_step` with the handler runs the store holds,
and each handler run is stored as it ends, so a session that crashed resumes where it
stopped: its job is orphaned, nothing is left to adopt in-process, it is requeued
(spending an attempt, R-G4) and the next claim continues it from the stored runs (R-D5,
R-D8). Consumers share the iteration's events: the first consumer of an iteration
reserves them (prepare), the last one's success consumes them (commit), a failure
releases them (or skips them if the handler raises `Skip`), so no event is lost or
consumed twice (R-D4).
"""

from __future__ import annotations

import json
import subprocess
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from datetime import datetime, timedelta
from typing import Any, Protocol

import attrs

from qrun.core import Handle, Job, Liveness, Run
from qrun.core.errors import InvalidInput, QrunError
from qrun.core.ports import Adopted, Clock, Exit, Gone, WorkflowStore
from qrun.core.topics import EventStatus, Settle, TopicEvent
from qrun.core.workflow import (
    Complete,
    Fail,
    HandlerRun,
    Role,
    RunHandler,
    RunStatus,
    Trigger,
    WorkflowSpec,
    next_step,
    session_cost,
)

from ..ids import new_id
from .environment import INHERITED, job_environment
from .threads import ThreadRuns

NAME = "session"


class CommandFailed(QrunError, RuntimeError):
    """A command handler's command timed out or exited non-zero: the handler failed."""


class Skip(QrunError):
    """Raise from a consumer for events no retry can handle: they are set aside (skipped,
    with the message as the reason), never lost and never handed out again."""


@attrs.define
class SessionContext:
    """What a handler gets: who it is, the events it consumes, and a way to publish."""

    session_id: str
    workflow: str
    handler: str
    iteration: int
    events: list[TopicEvent]
    _publish: Callable[[str, Mapping[str, Any]], str]
    _topic: str | None

    def publish(self, payload: Mapping[str, Any], topic: str | None = None) -> str:
        """Publish an event (to the workflow's topic unless `topic` is given); its id."""
        target = topic or self._topic
        if target is None:
            raise InvalidInput(f"workflow {self.workflow} has no topic; pass publish(..., topic=NAME)")
        return self._publish(target, payload)


Handler = Callable[[SessionContext], Any]


def command_handler(
    argv: Sequence[str], *, timeout_s: float | None = None, cwd: str | None = None
) -> Handler:
    """A handler that runs a command: it reads the iteration's events as a JSON array on
    stdin and writes JSON lines on stdout: `{"publish": {...}}` (with an optional
    `"topic"`) publishes an event, `{"cost": 1.5}` reports its cost, `{"skip": "why"}`
    sets the events aside; other lines are ignored. A non-zero exit is a failure."""
    if not argv or not all(isinstance(a, str) and a for a in argv):
        raise InvalidInput(f"a command handler needs argv, a non-empty list of strings, got {argv!r}")

    def run(ctx: SessionContext) -> float | None:
        events = [{"id": e.id, "topic": e.topic, "payload": dict(e.payload)} for e in ctx.events]
        env = {
            **job_environment(INHERITED, None),
            "QRUN_SESSION_ID": ctx.session_id,
            "QRUN_WORKFLOW": ctx.workflow,
            "QRUN_HANDLER": ctx.handler,
            "QRUN_ITERATION": str(ctx.iteration),
        }
        try:
            done = subprocess.run(
                list(argv),
                input=json.dumps(events),
                capture_output=True,
                text=True,
                timeout=timeout_s,
                cwd=cwd,
                env=env,
                check=False,  # the exit code is judged below, with stderr in the message
            )
        except subprocess.TimeoutExpired:
            raise CommandFailed(f"{argv[0]} timed out after {timeout_s}s") from None
        if done.returncode != 0:
            raise CommandFailed(f"{argv[0]} exited {done.returncode}: {done.stderr.strip()[-500:]}")
        cost: float | None = None
        for line in done.stdout.splitlines():
            try:
                message = json.loads(line)
            except json.JSONDecodeError:
                continue
            if not isinstance(message, dict):
                continue
            if "skip" in message:
                raise Skip(str(message["skip"]))
            if isinstance(message.get("publish"), dict):
                ctx.publish(message["publish"], message.get("topic"))
            if isinstance(message.get("cost"), int | float):
                cost = float(message["cost"])
        return cost

    return run


class Defined(Protocol):
    @property
    def spec(self) -> WorkflowSpec: ...


class Registry(Protocol):
    """The workflows and handlers an app defines, read as sessions run (definitions may
    be added after the runner is built)."""

    @property
    def handlers(self) -> Mapping[str, Handler]: ...

    @property
    def workflows(self) -> Mapping[str, Defined]: ...


class SessionRunner:
    """Runs sessions in threads of this worker (the Runner port)."""

    name = NAME

    def __init__(
        self,
        workflows: Registry,
        store: WorkflowStore,
        clock: Clock,
        *,
        threads: int = 4,
        batch: int = 100,
        event_lease_s: float = 600.0,
    ) -> None:
        self.workflows, self.store, self.clock = workflows, store, clock
        self.batch, self.event_lease = batch, timedelta(seconds=event_lease_s)
        self._runs = ThreadRuns(NAME, threads=threads, thread_prefix="qrun-session")
        self._stop: dict[str, threading.Event] = {}
        self._lock = threading.Lock()

    # -- the Runner port -----------------------------------------------------------------
    def spawn(self, job: Job, run: Run) -> Handle:
        stop = threading.Event()
        with self._lock:
            self._stop[self._runs.ref(job, run)] = stop
        return self._runs.start(job, run, self._session, job, stop)

    def adopt(self, job: Job, run: Run) -> Adopted | Gone:
        # Another process's session died with it; its progress is stored, so the requeue
        # that follows Gone resumes it (R-D8).
        return self._runs.adopt(job, run)

    def observe(self, handle: Handle) -> Liveness:
        return self._runs.observe(handle)

    def exit_code(self, handle: Handle) -> int | None:
        """The session's exit code once it has ended, without collecting it (see the reaper)."""
        future = self._runs.ended(handle)
        if future is None or future.cancelled():
            return None
        return int(future.result().code) if future.exception() is None else 1

    def wait(self, handle: Handle, timeout_s: float | None) -> Exit | None:
        done = self._runs.wait(
            handle, timeout_s, _session_outcome, "the session ran in another worker process, which is gone"
        )
        if done is not None:
            with self._lock:
                self._stop.pop(handle.ref, None)
        return done

    def kill(self, handle: Handle) -> None:
        """Stops the session between two handler runs (a running handler is not interrupted)."""
        with self._lock:
            stop = self._stop.get(handle.ref)
        if stop is not None:
            stop.set()

    def close(self) -> None:
        self._runs.close()

    # -- a session -------------------------------------------------------------------------
    def _session(self, job: Job, stop: threading.Event) -> Exit:
        name = str(job.payload.get("workflow"))
        workflow = self.workflows.workflows.get(name)
        if workflow is None:
            known = ", ".join(sorted(self.workflows.workflows)) or "none"
            error = f"no workflow named {name!r} is defined on this worker (defined: {known})"
            # Not put in error: a name nobody defines is no workflow to show as broken.
            return Exit(code=1, error=error, final=True, result=_summary([], "failed", error))
        trigger = Trigger(job.payload.get("trigger", Trigger.MANUAL.value))
        spec, known_handlers = workflow.spec, frozenset(self.workflows.handlers)
        while True:
            runs = self.store.handler_runs(job.id)
            if stop.is_set():
                return Exit(code=1, error="session cancelled", result=_summary(runs, "cancelled"))
            pending = self.store.available(spec.topic, self.clock.now()) if spec.topic else 0
            step = next_step(spec, trigger, runs, pending, known=known_handlers)
            if isinstance(step, Complete):
                self.store.set_workflow_error(name, None, self.clock.now())
                return Exit(code=0, result=_summary(runs, "completed", step.reason))
            if isinstance(step, Fail):
                return self._failed(name, step.error, runs)
            self._run(job.id, spec, step)

    def _failed(self, workflow: str, error: str, runs: list[HandlerRun] | None = None) -> Exit:
        self.store.set_workflow_error(workflow, error, self.clock.now())  # R-D2
        return Exit(code=1, error=error, final=True, result=_summary(runs or [], "failed", error))

    def _run(self, session_id: str, spec: WorkflowSpec, step: RunHandler) -> None:
        started = self.clock.now()
        holder = f"session:{session_id}:{step.iteration}"
        events: list[TopicEvent] = []
        if step.role is Role.CONSUMER:
            assert spec.topic is not None  # WorkflowSpec.problems refuses consumers without one
            events = self._events_of(spec, holder, step, started)
            if not events:
                self._record(
                    session_id,
                    step,
                    started,
                    RunStatus.FAILED,
                    error="the iteration's events were lost with a crash; they are handed out again",
                )
                return
        fn = self.workflows.handlers[step.handler]
        ctx = SessionContext(
            session_id, spec.name, step.handler, step.iteration, events, self._publish, spec.topic
        )
        try:
            cost = fn(ctx)
        except Skip as exc:
            self._settle(events, holder, Settle.SKIP, str(exc) or "skipped by its consumer")
            self._record(session_id, step, started, RunStatus.FAILED, error=f"skipped: {exc}")
            return
        except Exception as exc:  # the handler's failure is the run's outcome
            error = f"{type(exc).__name__}: {exc}"
            self._settle(events, holder, Settle.RELEASE, error)
            self._record(session_id, step, started, RunStatus.FAILED, error=error)
            return
        if step.role is Role.CONSUMER and step.handler == spec.consumers[-1]:
            self._settle(events, holder, Settle.CONSUME, None)  # commit before the record (no replay)
        self._record(session_id, step, started, RunStatus.OK, cost=_cost(cost))

    def _events_of(
        self, spec: WorkflowSpec, holder: str, step: RunHandler, now: datetime
    ) -> list[TopicEvent]:
        """The iteration's events: those it reserved already (a session resumed after a
        crash takes up the very events it had prepared), else, for its first consumer, a
        fresh reservation (prepare)."""
        assert spec.topic is not None
        held = [
            e
            for e in self.store.events(spec.topic, EventStatus.RESERVED, limit=100_000)
            if e.reserved_by == holder
        ]
        if held or step.handler != spec.consumers[0]:
            return held
        until = now + self.event_lease
        return list(self.store.reserve(spec.topic, holder, limit=self.batch, now=now, until=until))

    def _settle(self, events: list[TopicEvent], holder: str, how: Settle, note: str | None) -> None:
        if events:
            self.store.settle([e.id for e in events], holder, how, now=self.clock.now(), note=note)

    def _record(
        self,
        session_id: str,
        step: RunHandler,
        started: datetime,
        status: RunStatus,
        *,
        cost: float | None = None,
        error: str | None = None,
    ) -> None:
        run = HandlerRun(
            step.iteration, step.handler, step.role, status, cost, error, started, self.clock.now()
        )
        self.store.record_run(session_id, run)

    def _publish(self, topic: str, payload: Mapping[str, Any]) -> str:
        event = TopicEvent(id=new_id(), topic=topic, payload=dict(payload), published_at=self.clock.now())
        self.store.publish([event])
        return event.id


def _session_outcome(future: Future[Exit]) -> Exit:
    try:
        done: Exit = future.result()
    except Exception as exc:  # a bug here must not lose the session: it is retried
        return Exit(code=1, error=f"session runner failed: {type(exc).__name__}: {exc}")
    return done


def _cost(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None  # a handler that reports no cost (R-D7)
    return float(value)


def _summary(runs: list[HandlerRun], status: str, reason: str | None = None) -> dict[str, Any]:
    iterations = max((r.iteration for r in runs if r.role is Role.CONSUMER), default=0)
    return {
        "status": status,
        "reason": reason,
        "cost": session_cost(runs),
        "iterations": iterations,
        "runs": len(runs),
    }
