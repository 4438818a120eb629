"""Topics and their events (R-D4): the messages a workflow's producers publish and its
consumers take. An event moves pending -> reserved (a consumer prepares it) -> consumed
(it committed); on a handler's failure it is released (pending again) or skipped (set
aside, with the reason). A reservation has a deadline, so an event whose consumer died
is handed out again: never lost. Only the holder of the current reservation can settle
it, so an event is never consumed twice. Stores carry out these rules; they decide none."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs

from .errors import InvalidInput
from .job import json_problem


class EventStatus(enum.Enum):
    PENDING = "pending"
    RESERVED = "reserved"
    CONSUMED = "consumed"
    SKIPPED = "skipped"


class Settle(enum.Enum):
    """How a consumer ends its reservation."""

    CONSUME = "consume"  # the handler succeeded: done with it
    RELEASE = "release"  # the handler failed: hand it out again
    SKIP = "skip"  # the handler cannot ever take it: set it aside, never lost


def _json(instance: object, attribute: attrs.Attribute[Any], value: Any) -> None:
    if problem := json_problem(value):
        raise InvalidInput(f"an event's {attribute.name} must be plain JSON: {problem}")


def _name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or "\x00" in value:
        raise InvalidInput(f"{attribute.name} must be a non-empty string without NUL, got {value!r}")


@attrs.frozen(kw_only=True)
class TopicEvent:
    id: str = attrs.field(validator=_name)
    topic: str = attrs.field(validator=_name)
    payload: Mapping[str, Any] = attrs.field(factory=dict, validator=_json)
    status: EventStatus = EventStatus.PENDING
    published_at: datetime
    reserved_by: str | None = None
    reserved_until: datetime | None = None
    deliveries: int = 0  # how many reservations it has had
    settled_at: datetime | None = None
    note: str | None = None  # why it was skipped or last released

    def available(self, now: datetime) -> bool:
        """Pending, or reserved by a consumer whose reservation ran out."""
        return self.status is EventStatus.PENDING or (
            self.status is EventStatus.RESERVED
            and self.reserved_until is not None
            and self.reserved_until <= now
        )


class EventRefused(InvalidInput):
    """A reservation or settlement that does not apply; the message says why."""


def reserve(event: TopicEvent, consumer: str, now: datetime, until: datetime) -> TopicEvent:
    if not event.available(now):
        raise EventRefused(f"event {event.id} is {event.status.value} and not available")
    if until <= now:
        raise EventRefused("a reservation must end after it starts")
    return attrs.evolve(
        event,
        status=EventStatus.RESERVED,
        reserved_by=consumer,
        reserved_until=until,
        deliveries=event.deliveries + 1,
    )


def settle(
    event: TopicEvent, consumer: str, how: Settle, now: datetime, note: str | None = None
) -> TopicEvent:
    """Only the consumer holding the current reservation settles an event: one whose
    reservation ran out and was taken by another consumer is no longer its to settle."""
    if event.status is not EventStatus.RESERVED or event.reserved_by != consumer:
        holder = event.reserved_by if event.status is EventStatus.RESERVED else event.status.value
        raise EventRefused(f"event {event.id} is not reserved by {consumer} (it is {holder})")
    if how is Settle.RELEASE:
        return attrs.evolve(
            event, status=EventStatus.PENDING, note=note, reserved_by=None, reserved_until=None
        )
    status = EventStatus.CONSUMED if how is Settle.CONSUME else EventStatus.SKIPPED
    return attrs.evolve(
        event, status=status, settled_at=now, note=note, reserved_by=None, reserved_until=None
    )
