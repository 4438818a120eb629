"""Periodic jobs (R-F6) and retention (R-F3): the loops that fire schedule slots and
prune finished jobs. The policy is the core's (`core.schedule`, `core.retention`); the
cron arithmetic is croniter's, in UTC.

A cron has five fields: minute hour day month weekday. Six-field crons mean different
things in different tools (Quartz, Spring and APScheduler's cron put seconds first,
croniter puts them last), so qrun refuses them rather than guess; seconds are given
apart and by name (`seconds="*/10"`)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta

import attrs
from croniter import croniter

from qrun.core import Job, Status
from qrun.core.errors import AlreadyDefined, InvalidInput
from qrun.core.ports import Clock, JobStore
from qrun.core.schedule import due, fire

log = logging.getLogger("qrun.periodic")


FIELDS = "minute hour day month weekday"


def cron_expression(cron: str, seconds: str | None = None) -> str:
    """The croniter expression for a five-field `cron` and its `seconds` field (None:
    at second 0), or ValueError saying what qrun reads and how to write it."""
    fields = cron.split()
    if len(fields) != 5:
        six = (
            "; six fields mean seconds first in Quartz and Spring and seconds last in croniter, "
            "so qrun takes no six-field cron: give the seconds apart, e.g. "
            f"cron={' '.join(fields[1:]) if len(fields) == 6 else '* * * * *'!r} seconds={fields[0]!r}"
            if len(fields) == 6
            else ""
        )
        raise InvalidInput(
            f"cron {cron!r} is not a cron expression qrun reads: it has {len(fields)} field(s), "
            f"and qrun reads five: {FIELDS} (UTC), e.g. '*/5 * * * *'{six}"
        )
    expression = cron if seconds is None else f"{cron} {seconds}"
    if not croniter.is_valid(expression):
        what = f"cron {cron!r}" + (f" with seconds {seconds!r}" if seconds is not None else "")
        raise InvalidInput(f"{what} is not a cron expression ({FIELDS}, e.g. '*/5 * * * *')")
    return expression


def latest_slot(cron: str, now: datetime) -> datetime:
    """The latest slot of croniter expression `cron` at or before `now` (UTC)."""
    base = now.replace(microsecond=0) + timedelta(seconds=1)
    slot: datetime = croniter(cron, base).get_prev(datetime)
    return slot


@attrs.frozen
class Periodic:
    """A named cron schedule and the job each of its slots fires; ValueError for a cron
    qrun does not read (`cron_expression`)."""

    name: str
    cron: str
    template: Job
    seconds: str | None = None
    expression: str = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "expression", cron_expression(self.cron, self.seconds))

    def latest_slot(self, now: datetime) -> datetime:
        """The latest slot at or before `now`."""
        return latest_slot(self.expression, now)

    def next_slots(self, now: datetime, n: int = 3) -> list[datetime]:
        """The next `n` slots after `now`: what the schedule means, shown to its user."""
        slots = croniter(self.expression, now)
        return [slots.get_next(datetime) for _ in range(n)]


class Scheduler:
    """Fires each schedule's due slot once per daemon; the slot's unique key makes it
    once across every daemon on the database (a second submit returns the first job)."""

    def __init__(self, store: JobStore, clock: Clock, *, grace_s: float) -> None:
        self.store, self.clock = store, clock
        self.grace = timedelta(seconds=grace_s)
        self.schedules: dict[str, Periodic] = {}
        self._fired: dict[str, datetime] = {}
        self.fired_total = 0
        self.errors_total = 0

    def add(self, periodic: Periodic) -> None:
        if periodic.name in self.schedules:
            raise AlreadyDefined(f"schedule {periodic.name!r} is declared twice; give each a unique name")
        self.schedules[periodic.name] = periodic

    def tick(self) -> list[str]:
        """Submit the due slot of every schedule not yet fired here; returns the job ids."""
        now = self.clock.now()
        out: list[str] = []
        for p in self.schedules.values():
            slot = p.latest_slot(now)
            if not due(slot, now, self.grace) or self._fired.get(p.name) == slot:
                continue
            try:
                out += self.store.submit([fire(p.template, p.name, slot)])
            except Exception:
                self.errors_total += 1
                log.exception("schedule %s: could not fire slot %s", p.name, slot.isoformat())
                continue
            self._fired[p.name] = slot
            self.fired_total += 1
        return out


class Pruner:
    """Deletes finished jobs past retention in bounded batches (R-F3): each batch is one
    short transaction, so claims are never held up behind a long delete."""

    def __init__(
        self, store: JobStore, clock: Clock, *, keep: Mapping[Status, timedelta], batch: int
    ) -> None:
        self.store, self.clock, self.keep, self.batch = store, clock, dict(keep), batch
        self.pruned_total = 0
        self.last_run: datetime | None = None

    def tick(self, max_batches: int = 100) -> int:
        pruned = 0
        if self.keep:
            for _ in range(max_batches):
                n = self.store.prune(self.clock.now(), self.keep, limit=self.batch)
                pruned += n
                if n < self.batch:
                    break
        self.pruned_total += pruned
        self.last_run = self.clock.now()
        return pruned
