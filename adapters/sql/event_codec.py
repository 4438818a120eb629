"""TopicEvent <-> row, for both SQL stores (times and JSON converted by the dialect)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from qrun.core.topics import EventStatus, TopicEvent

EVENT_COLUMNS = (
    "id",
    "topic",
    "payload",
    "status",
    "published_at",
    "reserved_by",
    "reserved_until",
    "deliveries",
    "settled_at",
    "note",
)


class EventCodec:
    def __init__(
        self,
        time_out: Callable[[datetime], Any],
        time_in: Callable[[Any], datetime],
        json_out: Callable[[Any], Any],
        json_in: Callable[[Any], Any],
    ) -> None:
        self._tout, self._tin, self._jout, self._jin = time_out, time_in, json_out, json_in

    def row(self, e: TopicEvent) -> tuple[Any, ...]:
        t = self._t
        return (
            e.id,
            e.topic,
            self._jout(dict(e.payload)),
            e.status.value,
            t(e.published_at),
            e.reserved_by,
            t(e.reserved_until),
            e.deliveries,
            t(e.settled_at),
            e.note,
        )

    def event(self, row: Sequence[Any]) -> TopicEvent:
        r = dict(zip(EVENT_COLUMNS, row, strict=True))
        return TopicEvent(
            id=r["id"],
            topic=r["topic"],
            payload=self._jin(r["payload"]),
            status=EventStatus(r["status"]),
            published_at=self._tin(r["published_at"]),
            reserved_by=r["reserved_by"],
            reserved_until=self._ti(r["reserved_until"]),
            deliveries=r["deliveries"],
            settled_at=self._ti(r["settled_at"]),
            note=r["note"],
        )

    def _t(self, value: datetime | None) -> Any:
        return None if value is None else self._tout(value)

    def _ti(self, value: Any) -> datetime | None:
        return None if value is None else self._tin(value)
