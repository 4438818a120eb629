"""A job's timeline (R-F4): what happened to it, step by step, for the people who look
at a stuck or failed job.

`decide` appends one `Step` for every event it accepts except heartbeats, which would
drown the rest (a heartbeat changes only the lease's end and `ran_s`). The step travels
in the job, so a store writes it in the same compare-and-set as the transition: a step
is never recorded for a transition that lost its race, nor lost for one that won. The
SQL stores' one-statement claim and their lease sweep append the same step in SQL
(`Dialect.step`), and the contract holds them equal to `decide`.

Only the last `KEPT` steps are kept, so a job retried a thousand times does not carry
a growing timeline through every write."""

from __future__ import annotations

from datetime import datetime

from . import events as ev
from .job import Job, Status, Step

KEPT = 100
NOTE_CHARS = 200


def note(event: ev.Event) -> str | None:
    """What a reader needs beside the event's name: an error's first line, an exit
    code, the handle a run was started under, a reap's reason, the dependency."""
    if isinstance(event, (ev.Failed, ev.SpawnFailed)):
        lines = event.error.strip().splitlines()
        return lines[0][:NOTE_CHARS] if lines else None
    if isinstance(event, ev.Exited):
        return f"exit {event.code}"
    if isinstance(event, ev.Spawned):
        return f"{event.handle.runner} {event.handle.ref}"[:NOTE_CHARS]
    if isinstance(event, ev.Reap):
        return event.reason.value
    if isinstance(event, ev.DependencyEnded):
        return f"{event.dependency} {event.status.value}"
    if isinstance(event, ev.DependencyRetried):
        return f"{event.dependency} retried"
    return None


def step(before: Job, after: Job, event: ev.Event, now: datetime) -> Step:
    """The step `event` at `now` took `before` to `after`. Its worker is the one who took
    the job (a claim, an adoption) or else the one whose lease it came under."""
    return step_to(before, after.status, after.attempts, event, now)


def step_to(before: Job, status: Status, attempts: int, event: ev.Event, now: datetime) -> Step:
    """`step`, from the status and attempts `event` leads `before` to (so `decide` makes
    the job once, its step on it)."""
    taker = event.worker if isinstance(event, (ev.Claim, ev.Adopt)) else None
    holder = before.lease.worker if before.lease is not None else None
    if isinstance(event, ev.Recover):
        holder = event.previous_worker
    return Step(now, type(event).__name__, status, attempts, taker or holder, note(event))


def recorded(history: tuple[Step, ...], new: Step) -> tuple[Step, ...]:
    """`history` with `new` appended, the oldest dropped past `KEPT`."""
    return (*history, new)[-KEPT:]
