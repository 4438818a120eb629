"""Periodic jobs (R-F6), decided purely: which slot of a schedule fires now, and the
unique key that makes each slot fire once however many daemons evaluate it.

The cron arithmetic (the latest slot at or before now) is the caller's; this module
holds the policy. Missed slots: after downtime only the latest slot is fired, and only
if it is at most `grace` old; earlier missed slots are skipped, never replayed in a
burst (APScheduler calls this coalescing with a misfire grace time).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import attrs

from .job import TERMINAL, Job, Unique


def slot_key(schedule: str, slot: datetime) -> str:
    """The unique key of one slot of one schedule, the same in every daemon."""
    return f"cron:{schedule}:{slot.isoformat()}"


def slot_job_id(schedule: str, slot: datetime) -> str:
    return f"cron-{schedule}-{slot.strftime('%Y%m%dT%H%M%S')}"


def due(latest_slot: datetime | None, now: datetime, grace: timedelta) -> bool:
    """Whether the latest slot at or before `now` should fire now."""
    return latest_slot is not None and latest_slot <= now and now - latest_slot <= grace


def fire(template: Job, schedule: str, slot: datetime) -> Job:
    """The job for `slot`: `template` under the slot's id and a unique key that holds in
    every state, so a slot fired twice (two daemons, a restart) yields one job."""
    return attrs.evolve(
        template,
        id=slot_job_id(schedule, slot),
        unique=Unique(slot_key(schedule, slot), TERMINAL),
        requested_at=slot,
        available_at=slot,
    )
