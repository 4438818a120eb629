"""What the SQLite and PostgreSQL stores do alike, written once over their dialect: the
statements that differ only in how a value is bound, how a time is stored, how a list of
ids is passed and how rows are locked. Each store keeps what really differs: its
connections and transactions, how a claim locks (`BEGIN IMMEDIATE` against `FOR UPDATE
SKIP LOCKED` with advisory locks), how a batch of decisions is written, and submit (the
order of checks a caller's open transaction needs on PostgreSQL)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol

import attrs

from qrun.core import Decision, Heartbeat, Job, Policy, Status, timeline
from qrun.core.batch import BatchSummary, clear_refusal, summarize
from qrun.core.claim import Pick, decide_picks
from qrun.core.daemons import FORGOTTEN_AFTER, DaemonSeen
from qrun.core.pools import Pool, PoolState, check_size
from qrun.core.ports import BatchNotFinished, DuplicateEvent, JobFilter
from qrun.core.topics import EventStatus, Settle, TopicEvent
from qrun.core.workflow import HandlerRun, run_order

from .. import dependents
from . import run_sql
from .admission import Admission
from .codec import COLUMNS, Codec, dumps, micros
from .dependent_rows import DependentRows
from .event_codec import EventCodec
from .event_sql import EventSql, settle_args
from .fast_claim import IMPOSSIBLE_QUEUED
from .filters import where_sql
from .pool_sql import PoolSql, pool_state, pools_of
from .retention import expired_sql

_COLS = ", ".join(COLUMNS)
_DAEMON_COLUMNS = (
    "id",
    "name",
    "host",
    "pid",
    "slots",
    "running",
    "queues",
    "kinds",
    "started_at",
    "seen_at",
)


@attrs.frozen(kw_only=True)
class Dialect:
    """How one database binds values, stores times, takes a list of ids and locks rows."""

    mark: str  # the placeholder: "?" or "%s"
    time_in: Callable[[datetime], Any]
    time_out: Callable[[Any], datetime]
    codec: Codec
    events: EventCodec
    greatest: str  # the two-argument maximum: max() or GREATEST()
    arrays: bool  # ids as one array argument (`= ANY(%s)`), else chunks of `IN (?, ...)`
    chunk: int  # ids per statement where they are listed one mark each
    distinct: str  # null-safe "not equal": IS NOT (SQLite before 3.39) or IS DISTINCT FROM
    lock_rows: str  # what makes a SELECT lock its rows ("" where a write lock is held)
    skip_locked: str  # ... and step over rows another transaction holds
    duplicate: type[Exception]  # what the driver raises on a unique violation
    detail: Callable[[Exception], str]  # that error's words for the key that clashed
    # A job's timeline in SQL (`core.timeline`): how to build one step as a JSON object,
    # and how to append it to `{h}`, dropping the oldest past `{kept}`.
    json_object: str
    push: str

    def time(self, value: Any) -> datetime | None:
        return None if value is None else self.time_out(value)

    def ids_in(self, column: str, ids: Sequence[str]) -> Iterator[tuple[str, list[Any]]]:
        """(`column` among `ids`, its arguments), once per statement the ids need."""
        if self.arrays:
            yield f"{column} = ANY({self.mark})", [list(ids)]
            return
        for part in self.chunks(ids):
            yield f"{column} IN ({', '.join(self.mark for _ in part)})", part

    def step(self, *, j: str, event: str, status: str, attempt: str, worker: str, at: str) -> str:
        """The assignment that appends `core.timeline`'s step for `event` to the row's
        history, for the statements that write a transition in SQL (the one-statement
        claim, the lease sweep). `j` qualifies the row's columns; the rest are SQL."""
        obj = (
            f"{self.json_object}('at', CAST({at} AS BIGINT), 'event', '{event}', 'status', '{status}', "
            f"'attempt', {attempt}, 'worker', CAST({worker} AS TEXT), 'note', NULL)"
        )
        return "history = " + self.push.format(h=f"{j}history", kept=timeline.KEPT, o=obj)

    def not_among(self, column: str, ids: Sequence[str]) -> tuple[str, Any]:
        """(`column` outside `ids`, its one argument), however many the ids."""
        if self.arrays:
            return f"{column} <> ALL({self.mark})", list(ids)
        return f"{column} NOT IN (SELECT value FROM json_each({self.mark}))", dumps(list(ids))

    def chunks(self, ids: Sequence[str]) -> Iterator[list[str]]:
        for start in range(0, len(ids), self.chunk):
            yield list(ids[start : start + self.chunk])


class Transaction(Protocol):
    """What both drivers' transactions offer: sqlite3's connection, psycopg's cursor."""

    def execute(self, sql: Any, args: Any = ..., /) -> Any: ...

    def executemany(self, sql: Any, args: Any, /) -> Any: ...


@attrs.frozen
class Written:
    rows: list[Any]
    count: int


@attrs.frozen
class Tables:
    jobs: str
    deps: str
    paused: str
    errors: str
    runs: str
    pools: PoolSql
    events: EventSql
    daemons: str

    @classmethod
    def under(cls, prefix: str, *, mark: str, skip_locked: bool) -> Tables:
        """A store's tables, every name starting with `prefix` ("qrun." or "qrun_")."""
        jobs = f"{prefix}jobs"
        return cls(
            jobs=jobs,
            deps=f"{prefix}job_deps",
            paused=f"{prefix}paused_queues",
            errors=f"{prefix}workflow_errors",
            runs=f"{prefix}handler_runs",
            pools=PoolSql(jobs, f"{prefix}pools", mark),
            events=EventSql(f"{prefix}topic_events", mark, skip_locked=skip_locked),
            daemons=f"{prefix}daemons",
        )


class SqlStore:
    """The shared half of a SQL store. A store sets `_dialect` and `_tables`, and gives
    `_fetch` (one read), `_execute` (one write statement, atomic on its own),
    `_transaction` (statements committed together) and `_snapshot` (reads that see one
    state of the database)."""

    _dialect: Dialect
    _tables: Tables

    def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> Written:
        raise NotImplementedError

    def _transaction(self) -> AbstractContextManager[Transaction]:
        raise NotImplementedError

    def _snapshot(self) -> AbstractContextManager[Transaction]:
        raise NotImplementedError

    # -- writes ------------------------------------------------------------------------
    def heartbeat(
        self,
        worker: str,
        job_ids: Sequence[str],
        *,
        lease_until: datetime,
        now: datetime,
        ran_s: float = 0.0,
    ) -> frozenset[str]:
        ran_s = Heartbeat(worker, lease_until, ran_s).ran_s  # checked as decide checks it
        if not job_ids:
            return frozenset()
        d, t = self._dialect, self._tables.jobs
        kept: set[str] = set()
        with self._transaction() as tx:
            for clause, args in d.ids_in("id", job_ids):
                rows = tx.execute(
                    f"UPDATE {t} SET lease_until = {d.greatest}(lease_until, {d.mark}), "
                    f"ran_s = ran_s + {d.mark}, version = version + 1 "
                    f"WHERE status = 'running' AND lease_worker = {d.mark} AND {clause} RETURNING id",
                    (d.time_in(lease_until), ran_s, worker, *args),
                ).fetchall()
                kept.update(r[0] for r in rows)
        return frozenset(kept)

    def prune(self, now: datetime, keep: Mapping[Status, timedelta], *, limit: int) -> int:
        d, t, deps = self._dialect, self._tables.jobs, self._tables.deps
        clause, args = expired_sql(keep, now, d.mark, d.time_in)
        if not clause or limit <= 0:
            return 0
        # One short transaction per bounded batch: claims wait at most for this one (on
        # SQLite), and rows a concurrent writer holds (a retry) are stepped over.
        with self._transaction() as tx:
            ids = [
                r[0]
                for r in tx.execute(
                    f"SELECT id FROM {t} j WHERE {clause} "
                    f"AND NOT EXISTS (SELECT 1 FROM {deps} x WHERE x.dep_id = j.id) "
                    f"ORDER BY finished_at, id LIMIT {d.mark}{d.skip_locked}",
                    (*args, limit),
                ).fetchall()
            ]
            self._delete(tx, ids)
        return len(ids)

    def clear_batch(self, batch: str) -> int:
        d, t, deps = self._dialect, self._tables.jobs, self._tables.deps
        with self._transaction() as tx:
            # The batch's rows locked first: a retry racing the clear waits, then finds no row.
            statuses = tx.execute(
                f"SELECT id, status FROM {t} WHERE batch = {d.mark} ORDER BY id{d.lock_rows}", (batch,)
            ).fetchall()
            needed: dict[str, str] = dict(
                tx.execute(
                    f"SELECT x.dep_id, x.job_id FROM {deps} x JOIN {t} j ON j.id = x.dep_id "
                    f"JOIN {t} o ON o.id = x.job_id WHERE j.batch = {d.mark} "
                    f"AND o.batch {d.distinct} {d.mark}",
                    (batch, batch),
                ).fetchall()
            )
            still = [i for i, st in statuses if st in ("queued", "running")]
            why = clear_refusal(batch, still, needed)
            if why:
                raise BatchNotFinished(why)
            return self._delete(tx, [i for i, _ in statuses])

    def _existing(self, tx: Transaction, ids: Sequence[str]) -> set[str]:
        """Which of `ids` are stored."""
        found: set[str] = set()
        for clause, args in self._dialect.ids_in("id", ids):
            found.update(
                r[0]
                for r in tx.execute(f"SELECT id FROM {self._tables.jobs} WHERE {clause}", args).fetchall()
            )
        return found

    def _delete(self, tx: Transaction, ids: Sequence[str]) -> int:
        """Jobs `ids` and their dependency rows; how many jobs went."""
        gone = 0
        for clause, args in self._dialect.ids_in("job_id", ids):
            tx.execute(f"DELETE FROM {self._tables.deps} WHERE {clause}", args)
        for clause, args in self._dialect.ids_in("id", ids):
            gone += tx.execute(f"DELETE FROM {self._tables.jobs} WHERE {clause}", args).rowcount
        return gone

    # -- the general claim --------------------------------------------------------------
    def _try_lock(self, tx: Transaction, kind: str, name: str) -> bool:
        """Hold the claim lock of a key or pool (`kind`) until commit, or say another
        claimer holds it. SQLite's write transactions exclude each other: none needed."""
        return True

    def _running_with_key(self, tx: Transaction, key: str) -> float:
        """Running jobs of `key`; a key another claimer is working on counts as full."""
        if not self._try_lock(tx, "key", key):
            return float("inf")
        row = tx.execute(
            f"SELECT count(*) FROM {self._tables.jobs} WHERE status = 'running' "
            f"AND concurrency_key = {self._dialect.mark}",
            (key,),
        ).fetchone()
        return float(row[0])

    def _pool_state(self, tx: Transaction, pool: str) -> PoolState | None:
        """The pool's slots, read under its claim lock, so two claimers never hand out one
        free slot; a pool another claimer is working on gives nothing to this claim."""
        if not self._try_lock(tx, "pool", pool):
            return None
        sql = self._tables.pools
        size = tx.execute(sql.size, (pool,)).fetchone()
        return pool_state(size, tx.execute(sql.held_slots, (pool,)).fetchall() if size else ())

    def _claim_general(
        self,
        tx: Transaction,
        worker: str,
        limit: int,
        now: datetime,
        lease_until: datetime,
        policy: Policy,
        scope: str,
        scope_args: Sequence[Any],
    ) -> list[Decision]:
        """Adoption first, then queued jobs within their key's limit and with a slot of
        their pool (`Admission`), each claim decided by `decide` and written under its
        version. `scope` filters by queue and pool (`core.claim.in_scope`)."""
        d, t = self._dialect, self._tables.jobs
        rows = tx.execute(
            f"SELECT {_COLS} FROM {t} WHERE status = 'running' AND lease_worker IS NULL{scope} "
            f"ORDER BY priority DESC, started_at, id LIMIT {d.mark}{d.skip_locked}",
            (*scope_args, limit),
        ).fetchall()
        chosen = [Pick(d.codec.job(r)) for r in rows]
        if len(chosen) < limit:
            chosen += self._ready(tx, now, scope, scope_args, limit - len(chosen), limit)
        out = decide_picks(chosen, worker, lease_until, now, policy)
        if out.writes:
            sets = ", ".join(f"{c} = {d.mark}" for c in COLUMNS)
            tx.executemany(
                f"UPDATE {t} SET {sets} WHERE id = {d.mark} AND version = {d.mark}",
                [(*d.codec.row(c.job), c.job.id, c.expected_version) for c in out.writes],
            )
            dependents.settle(out.writes, DependentRows(tx, d, t, self._tables.deps))  # a heal may end one
        return out

    def _ready(
        self, tx: Transaction, now: datetime, scope: str, scope_args: Sequence[Any], need: int, fetch: int
    ) -> list[Pick]:
        """Queued jobs that may start now, in hand-out order, admitted by key and pool:
        `fetch` candidates first, then more, past those seen, while keys or pools held
        some back."""
        d, t, deps = self._dialect, self._tables.jobs, self._tables.deps
        admission = Admission(partial(self._running_with_key, tx), partial(self._pool_state, tx))
        taken: list[Pick] = []
        seen: list[str] = []
        while True:
            outside, seen_arg = d.not_among("id", seen)
            rows = tx.execute(
                f"SELECT {_COLS} FROM {t} j WHERE status = 'queued' AND available_at <= {d.mark}{scope} "
                f"AND {outside} AND queue NOT IN (SELECT name FROM {self._tables.paused}) "
                f"AND NOT EXISTS (SELECT 1 FROM {deps} x LEFT JOIN {t} p ON p.id = x.dep_id "
                "WHERE x.job_id = j.id AND (p.status IS NULL OR p.status <> 'done')) "
                f"ORDER BY priority DESC, available_at, requested_at, id LIMIT {d.mark}{d.skip_locked}",
                (d.time_in(now), *scope_args, seen_arg, fetch),
            ).fetchall()
            for row in rows:
                job = d.codec.job(row)
                seen.append(job.id)
                if (chosen := admission.admit(job)) is not None:
                    taken.append(chosen)
                    if len(taken) >= need:
                        return taken
            if len(rows) < fetch:
                return taken
            fetch = max(4 * need, 32)

    # -- leases --------------------------------------------------------------------------
    def sweep_stale_leases(self, now: datetime) -> int:
        m = self._dialect.mark
        return self._execute(
            f"UPDATE {self._tables.jobs} SET lease_worker = NULL, lease_until = NULL, version = version + 1, "
            + self._dialect.step(
                j="", event="LeaseExpired", status="running", attempt="attempts", worker="lease_worker", at=m
            )
            + f" WHERE status = 'running' AND lease_worker IS NOT NULL AND lease_until <= {m}",
            (micros(now), self._dialect.time_in(now)),
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

    def pools(self) -> Mapping[str, Pool]:
        with self._snapshot() as tx:  # sizes and holders of one moment agree
            holders = tx.execute(self._tables.pools.holders).fetchall()
            sizes = tx.execute(self._tables.pools.sizes).fetchall()
        return pools_of(sizes, holders)

    def batch(self, batch: str) -> BatchSummary:
        t, m = self._tables.jobs, self._dialect.mark
        rows = self._fetch(f"SELECT status, started_at, finished_at FROM {t} WHERE batch = {m}", (batch,))
        time = self._dialect.time
        return summarize(batch, [(Status(st), time(a), time(b)) for st, a, b in rows])

    # -- topics and events (R-D4) --------------------------------------------------------
    def publish(self, events: Sequence[TopicEvent]) -> None:
        if not events:
            return
        d = self._dialect
        try:
            with self._transaction() as tx:
                tx.executemany(self._tables.events.insert(), [d.events.row(e) for e in events])
        except d.duplicate as exc:
            raise DuplicateEvent(
                f"an event id exists already ({d.detail(exc)}); publish it under a new id"
            ) from None

    def settle(
        self, ids: Sequence[str], consumer: str, how: Settle, *, now: datetime, note: str | None = None
    ) -> list[str]:
        wanted = list(dict.fromkeys(ids))
        d, done = self._dialect, set[str]()
        if not wanted:
            return []
        with self._transaction() as tx:
            for chunk in d.chunks(wanted):
                rows = tx.execute(
                    self._tables.events.settle(how, len(chunk)),
                    settle_args(how, d.time_in(now), note, chunk, consumer),
                ).fetchall()
                done.update(r[0] for r in rows)
        return [i for i in wanted if i in done]  # in the order asked, each once

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

    # -- live daemons (R-F4) ----------------------------------------------------------------
    def report(self, daemon: DaemonSeen) -> None:
        d, t = self._dialect, self._tables.daemons
        m = ", ".join(d.mark for _ in _DAEMON_COLUMNS)
        queues, kinds = (dumps(list(v)) if v is not None else None for v in (daemon.queues, daemon.kinds))
        row = (daemon.id, daemon.name, daemon.host, daemon.pid, daemon.slots, daemon.running, queues, kinds)
        with self._transaction() as tx:
            tx.execute(
                f"DELETE FROM {t} WHERE seen_at < {d.mark}", (d.time_in(daemon.seen_at - FORGOTTEN_AFTER),)
            )
            tx.execute(
                f"INSERT INTO {t} ({', '.join(_DAEMON_COLUMNS)}) VALUES ({m}) ON CONFLICT (id) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in _DAEMON_COLUMNS[1:]),
                (*row, d.time_in(daemon.started_at), d.time_in(daemon.seen_at)),
            )

    def daemons(self, since: datetime) -> list[DaemonSeen]:
        d, t = self._dialect, self._tables.daemons
        rows = self._fetch(
            f"SELECT {', '.join(_DAEMON_COLUMNS)} FROM {t} WHERE seen_at >= {d.mark} ORDER BY name, host, id",
            (d.time_in(since),),
        )
        return [
            DaemonSeen(
                id=i,
                name=n,
                host=h,
                pid=int(p),
                slots=int(s),
                running=int(r),
                queues=json.loads(q) if q is not None else None,
                kinds=json.loads(k) if k is not None else None,
                started_at=d.time_out(a),
                seen_at=d.time_out(b),
            )
            for i, n, h, p, s, r, q, k, a, b in rows
        ]

    def forget(self, daemon_id: str) -> None:
        self._execute(f"DELETE FROM {self._tables.daemons} WHERE id = {self._dialect.mark}", (daemon_id,))

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

    def suspects(self, now: datetime, limit: int, after: str | None = None) -> list[Job]:
        """`core.invariants.needs_care` as one query over the open jobs (a superset: the
        doctor judges each row it returns)."""
        d, t, deps = self._dialect, self._tables.jobs, self._tables.deps
        m = d.mark
        past = f" AND id > {m}" if after is not None else ""
        sql = f"""
            SELECT {_COLS} FROM {t} j WHERE status IN ('queued', 'running'){past} AND (
                attempts > max_attempts OR started_at < requested_at OR finished_at < started_at
                OR (status = 'queued' AND {IMPOSSIBLE_QUEUED})
                OR (status = 'running' AND (run_id IS NULL OR started_at IS NULL OR finished_at IS NOT NULL
                    OR attempts < 1 OR (pool IS NULL) <> (pool_slot IS NULL)
                    OR (exit_recorded_at IS NOT NULL AND exit_code IS NULL) OR lease_until < {m}))
                OR (status = 'queued' AND EXISTS (
                    SELECT 1 FROM {deps} x LEFT JOIN {t} p ON p.id = x.dep_id
                    WHERE x.job_id = j.id AND (p.id IS NULL OR p.status IN ('failed', 'cancelled'))))
            ) ORDER BY id LIMIT {m}
        """
        args = (*((after,) if after is not None else ()), d.time_in(now), limit)
        return [d.codec.job(r) for r in self._fetch(sql, args)]

    def list(self, where: JobFilter = JobFilter()) -> list[Job]:
        m = self._dialect.mark
        clause, args = where_sql(where, m, self._tables.jobs)
        way = " DESC" if where.newest_first else ""
        order = f"requested_at{way}, id{way}" if where.by_time else "id"
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
