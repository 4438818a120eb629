"""The statements of the event store (R-D4) for both SQL dialects. Each is one guarded
UPDATE, so the rules of `core.topics` hold under concurrent consumers: a reservation
takes only available rows (SKIP LOCKED on PostgreSQL, the write lock on SQLite), and a
settlement touches only rows the consumer still holds."""

from __future__ import annotations

from qrun.core.topics import Settle

from .event_codec import EVENT_COLUMNS

COLS = ", ".join(EVENT_COLUMNS)

_SETTLE = {
    Settle.CONSUME: "status = 'consumed', settled_at = {m}",
    Settle.RELEASE: "status = 'pending'",
    Settle.SKIP: "status = 'skipped', settled_at = {m}",
}


class EventSql:
    def __init__(self, table: str, mark: str, *, skip_locked: bool) -> None:
        self.t, self.m, self._lock = table, mark, " FOR UPDATE SKIP LOCKED" if skip_locked else ""

    def insert(self) -> str:
        return f"INSERT INTO {self.t} ({COLS}) VALUES ({', '.join(self.m for _ in EVENT_COLUMNS)})"

    def reserve(self) -> str:
        """Arguments: consumer, until, topic, now, limit."""
        m = self.m
        return (
            f"UPDATE {self.t} SET status = 'reserved', reserved_by = {m}, reserved_until = {m}, "
            f"deliveries = deliveries + 1 WHERE id IN (SELECT id FROM {self.t} WHERE topic = {m} "
            f"AND status IN ('pending', 'reserved') AND (status = 'pending' OR reserved_until <= {m}) "
            f"ORDER BY published_at, id LIMIT {m}{self._lock}) RETURNING {COLS}"
        )

    def settle(self, how: Settle, count: int) -> str:
        """Arguments: [now if consumed or skipped], note, ids..., consumer."""
        m = self.m
        marks = ", ".join(m for _ in range(count))
        return (
            f"UPDATE {self.t} SET {_SETTLE[how].format(m=m)}, note = {m}, reserved_by = NULL, "
            f"reserved_until = NULL WHERE id IN ({marks}) AND status = 'reserved' AND reserved_by = {m} "
            "RETURNING id"
        )

    def events(self, with_status: bool) -> str:
        status = f" AND status = {self.m}" if with_status else ""
        where = f"topic = {self.m}{status}"
        return f"SELECT {COLS} FROM {self.t} WHERE {where} ORDER BY published_at, id LIMIT {self.m}"

    def available(self) -> str:
        return (
            f"SELECT count(*) FROM {self.t} WHERE topic = {self.m} AND status IN ('pending', 'reserved') "
            f"AND (status = 'pending' OR reserved_until <= {self.m})"
        )


def settle_args(
    how: Settle, now: object, note: str | None, ids: list[str], consumer: str
) -> tuple[object, ...]:
    head: tuple[object, ...] = (now,) if how is not Settle.RELEASE else ()
    return (*head, note, *ids, consumer)
