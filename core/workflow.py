"""Workflow sessions (R-D1..R-D9), decided purely: given a workflow, how its session was
triggered, the handler runs stored so far and how many events are pending, what runs
next. A session that crashed is resumed by asking again with the runs that were stored:
nothing here is kept in memory, so a resume continues at the right iteration and the
budget counts every run, before and after the crash (R-D5, R-D8).

A session runs the producers once, in order, unless an event triggered it (R-D3); the
first producer failure ends it `failed` (R-D9). Then each iteration runs the consumers,
in order, while events are pending and the budget `max_iterations` lasts (R-D4, R-D5).
A consumer failure ends its iteration (the later consumers of it do not run) but not the
session: the iteration's events are released for a later one (R-D4), which the budget
bounds.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import attrs


class Role(enum.Enum):
    PRODUCER = "producer"
    CONSUMER = "consumer"


class Trigger(enum.Enum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    EVENT = "event"


class RunStatus(enum.Enum):
    OK = "ok"
    FAILED = "failed"


def _names(value: Iterable[str]) -> tuple[str, ...]:
    return tuple(value)


@attrs.frozen(kw_only=True)
class WorkflowSpec:
    name: str
    producers: tuple[str, ...] = attrs.field(default=(), converter=_names)
    consumers: tuple[str, ...] = attrs.field(default=(), converter=_names)
    topic: str | None = None  # what the consumers take
    max_iterations: int = 10

    def problems(self, known: frozenset[str] | None = None) -> list[str]:
        """What is wrong with the workflow's handler configuration; `known` is the set of
        handlers that exist (None: do not check)."""
        found: list[str] = []
        if not self.name:
            found.append("a workflow needs a name")
        if self.max_iterations < 1:
            found.append(f"max_iterations must be >= 1, got {self.max_iterations}")
        handlers = [*self.producers, *self.consumers]
        if any(not h for h in handlers):
            found.append("a handler name is empty")
        twice = sorted({h for h in handlers if handlers.count(h) > 1})
        if twice:
            found.append(f"handler(s) listed twice: {', '.join(twice)}")
        if self.consumers and not self.topic:
            found.append("it has consumers but no topic for them to consume")
        if known is not None:
            missing = sorted(h for h in dict.fromkeys(handlers) if h and h not in known)
            if missing:
                found.append(f"no handler registered as {', '.join(missing)}")
        return found


@attrs.frozen
class HandlerRun:
    """One run of one handler in a session, as stored (R-D7: `cost` may be missing)."""

    iteration: int  # 0 for producers, 1.. for consumer iterations
    handler: str
    role: Role
    status: RunStatus
    cost: float | None = None
    error: str | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None


@attrs.frozen
class RunHandler:
    handler: str
    role: Role
    iteration: int


@attrs.frozen
class Complete:
    reason: str


@attrs.frozen
class Fail:
    error: str


SessionStep = RunHandler | Complete | Fail


def next_step(
    spec: WorkflowSpec,
    trigger: Trigger,
    runs: Sequence[HandlerRun],
    pending: int,
    *,
    known: frozenset[str] | None = None,
) -> SessionStep:
    """What the session does next."""
    if problems := spec.problems(known):
        return Fail(f"workflow {spec.name}: invalid handler configuration: {'; '.join(problems)}")  # R-D1
    if not spec.producers and not spec.consumers:
        return Complete("the workflow has no handlers")  # R-D1: an empty workflow completes
    done = {(r.iteration, r.handler): r for r in runs}
    if trigger is not Trigger.EVENT:  # R-D3: an event trigger skips the producers
        for producer in spec.producers:  # R-D9: in order, before any consumer
            run = done.get((0, producer))
            if run is None:
                return RunHandler(producer, Role.PRODUCER, 0)
            if run.status is RunStatus.FAILED:
                return Fail(f"producer {producer} failed: {run.error or 'no error given'}")
    if not spec.consumers:
        return Complete("producers done; the workflow has no consumers")
    started = max((r.iteration for r in runs if r.role is Role.CONSUMER), default=0)
    if started:
        failed = any(
            done[(started, c)].status is RunStatus.FAILED for c in spec.consumers if (started, c) in done
        )
        unfinished = [c for c in spec.consumers if (started, c) not in done]
        if unfinished and not failed:  # resume inside the iteration a crash interrupted (R-D8)
            return RunHandler(unfinished[0], Role.CONSUMER, started)
    if started >= spec.max_iterations:
        return Complete(f"budget of {spec.max_iterations} iteration(s) spent")  # R-D5
    if pending <= 0:
        return Complete("no pending events")  # R-D4
    return RunHandler(spec.consumers[0], Role.CONSUMER, started + 1)


def session_cost(runs: Iterable[HandlerRun]) -> float:
    """R-D7: the sum of the runs' costs; a run that reported none adds nothing."""
    return sum(r.cost for r in runs if r.cost is not None)


def run_order(run: HandlerRun) -> tuple[int, datetime, str]:
    """How stores list a session's runs: by iteration, then start, then handler."""
    return (run.iteration, run.started_at or _NEVER, run.handler)


_NEVER = datetime.min.replace(tzinfo=UTC)


SESSION_KIND = "qrun.session"


def session_queue(workflow: str) -> str:
    """A workflow's sessions wait on a queue of their own, so pausing it pauses them (R-D8)."""
    return f"workflow.{workflow}"


def session_key(workflow: str) -> str:
    """The unique key a workflow's active session holds (R-D6)."""
    return f"workflow:{workflow}"
