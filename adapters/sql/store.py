"""What the SQLite and PostgreSQL stores do alike, written once over their dialect: the
statements that differ only in how a value is bound and how a time is stored. Each
store keeps what really differs: its connections and transactions, how a claim locks
(`BEGIN IMMEDIATE` against `FOR UPDATE SKIP LOCKED` with advisory locks), how a batch of
decisions is written, pruning, and the error a duplicate raises."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import attrs
from qrun.core import Job, Status
from qrun.core.batch import BatchSummary, summarize
from qrun.core.pools import check_size
from qrun.core.ports import JobFilter
from qrun.core.topics import EventStatus, TopicEvent
from qrun.core.workflow import HandlerRun, run_order

from . import run_sql
from .codec import COLUMNS, Codec
from .event_codec import EventCodec
from .event_sql import EventSql
from .filters import where_sql
from .pool_sql import PoolSql

_COLS = ", ".join(COLUMNS)


@attrs.frozen
class Dialect:
    """How one database binds values and stores times."""

    mark: str  # the placeholder: "?" or "%s"
    time_in: Callable[[datetime], Any]
    time_out: Callable[[Any], datetime]
    codec: Codec
    events: EventCodec

    def time(self, value: Any) -> datetime | None:
        return None if value is None else self.time_out(value)


@attrs.frozen
class Written:
    rows: list[Any]
    count: int


@attrs.frozen
class Tables:
    jobs: str
    paused: str
    errors: str
    runs: str
    pools: PoolSql
    events: EventSql


class SqlStore:
    """The shared half of a SQL store. A store sets `_dialect` and `_tables`, and gives
    `_fetch` (one read) and `_execute` (one write statement, atomic on its own)."""

    _dialect: Dialect
    _tables: Tables

    def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> Written:
        raise NotImplementedError

    # -- leases --------------------------------------------------------------------------
    def sweep_stale_leases(self, now: datetime) -> int:
        return self._execute(
            f"UPDATE {self._tables.jobs} SET lease_worker = NULL, lease_until = NULL, version = version + 1 "
            f"WHERE status = 'running' AND lease_worker IS NOT NULL AND lease_until <= {self._dialect.mark}",
            (self._dialect.time_in(now),),
        ).count

    # -- queues and pools ------------------------------------------------------------------
    def pause(self, queue: str) -> None:
        m = self._dialect.mark
        self._execute(
            f"INSERT INTO {self._tables.paused} (name) VALUES ({m}) ON CONFLICT DO NOTHING", (queue,)
        )

    def resume(self, queue: str) -> None:
        self._execute(f"DELETE FROM {self._tables.paused} WHERE name = {self._dialect.mark}", (queue,))

    def paused(self) -> frozenset[str]:
        return frozenset(r[0] for r in self._fetch(f"SELECT name FROM {self._tables.paused}"))

    def set_pool(self, name: str, size: int) -> None:
        check_size(name, size)
        self._execute(self._tables.pools.upsert, (name, size))

    def batch(self, batch: str) -> BatchSummary:
        t, m = self._tables.jobs, self._dialect.mark
        rows = self._fetch(f"SELECT status, started_at, finished_at FROM {t} WHERE batch = {m}", (batch,))
        time = self._dialect.time
        return summarize(batch, [(Status(st), time(a), time(b)) for st, a, b in rows])

    # -- topics and events (R-D4) --------------------------------------------------------
    def reserve(
        self, topic: str, consumer: str, *, limit: int, now: datetime, until: datetime
    ) -> list[TopicEvent]:
        if limit <= 0 or until <= now:
            return []
        t = self._dialect.time_in
        rows = self._execute(self._tables.events.reserve(), (consumer, t(until), topic, t(now), limit)).rows
        events = (self._dialect.events.event(r) for r in rows)
        return sorted(events, key=lambda e: (e.published_at, e.id))

    def events(self, topic: str, status: EventStatus | None = None, *, limit: int = 1000) -> list[TopicEvent]:
        args = (topic, status.value, limit) if status else (topic, limit)
        rows = self._fetch(self._tables.events.events(status is not None), args)
        return [self._dialect.events.event(r) for r in rows]

    def available(self, topic: str, now: datetime) -> int:
        return int(self._fetch(self._tables.events.available(), (topic, self._dialect.time_in(now)))[0][0])

    # -- workflow sessions (R-D5, R-D7, R-D8) -----------------------------------------------
    def record_run(self, session_id: str, run: HandlerRun) -> None:
        d = self._dialect
        self._execute(run_sql.upsert(self._tables.runs, d.mark), run_sql.row(session_id, run, d.time_in))

    def handler_runs(self, session_id: str) -> list[HandlerRun]:
        d = self._dialect
        rows = self._fetch(run_sql.select(self._tables.runs, d.mark), (session_id,))
        return sorted((run_sql.run(r, d.time_out) for r in rows), key=run_order)

    def set_workflow_error(self, workflow: str, error: str | None, now: datetime) -> None:
        t, d = self._tables.errors, self._dialect
        if error is None:
            self._execute(run_sql.error_clear(t, d.mark), (workflow,))
        else:
            self._execute(run_sql.error_set(t, d.mark), (workflow, error, d.time_in(now)))

    def workflow_errors(self) -> Mapping[str, tuple[str, datetime]]:
        rows = self._fetch(run_sql.errors(self._tables.errors))
        return {n: (e, self._dialect.time_out(at)) for n, e, at in rows}

    # -- reads ---------------------------------------------------------------------------
    def get(self, job_id: str) -> Job | None:
        rows = self._fetch(
            f"SELECT {_COLS} FROM {self._tables.jobs} WHERE id = {self._dialect.mark}", (job_id,)
        )
        return self._dialect.codec.job(rows[0]) if rows else None

    def list(self, where: JobFilter = JobFilter()) -> list[Job]:
        m = self._dialect.mark
        clause, args = where_sql(where, m)
        order = "id DESC" if where.newest_first else "id"
        rows = self._fetch(
            f"SELECT {_COLS} FROM {self._tables.jobs} {clause} ORDER BY {order} LIMIT {m}",
            (*args, where.limit),
        )
        return [self._dialect.codec.job(r) for r in rows]

    def counts(self) -> Mapping[tuple[str, Status], int]:
        rows = self._fetch(f"SELECT queue, status, count(*) FROM {self._tables.jobs} GROUP BY queue, status")
        return {(q, Status(s)): int(n) for q, s, n in rows}

    def finished_counts(self, since: datetime) -> Mapping[tuple[str, Status], int]:
        rows = self._fetch(
            f"SELECT queue, status, count(*) FROM {self._tables.jobs} "
            f"WHERE status IN ('done', 'failed', 'cancelled') AND finished_at >= {self._dialect.mark} "
            "GROUP BY queue, status",
            (self._dialect.time_in(since),),
        )
        return {(q, Status(s)): int(n) for q, s, n in rows}
