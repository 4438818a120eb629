"""The PostgreSQL store: psycopg 3 with a connection pool.

Claims lock their rows with `FOR UPDATE SKIP LOCKED`, so concurrent claimers never wait
on each other's candidates. A per-key concurrency limit cannot be checked row by row
(two claimers would each see room for one more), so a claim first takes a transaction-
scoped advisory lock on the key, then counts the key's running jobs: the count sees every
claim of that key committed before the lock was granted, and a claimer that cannot get
the lock treats the key as busy for this claim (try-lock, so claimers never deadlock).
Pool slots (R-E3) are handed out the same way, under a lock on the pool, with a unique
index on (pool, pool_slot) as the backstop.
"""

from __future__ import annotations

import asyncio
import json
import threading
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.types.json import Jsonb, set_json_loads
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from qrun.core import ClaimRequest, Decision, EnqueueJob, Job, Policy
from qrun.core.ports import (
    Applied,
    ApplyResult,
    Conflict,
    NameHold,
    NameTaken,
    StoreError,
    StoreUnreachable,
    UniqueConflict,
    unique_conflict_message,
)

from .. import dependents
from ..redact import mask
from ..sql import cas
from ..sql.codec import COLUMNS, Codec, micros
from ..sql.dependent_rows import DependentRows
from ..sql.event_codec import EventCodec
from ..sql.fast_claim import CLAIM_SET, IMPOSSIBLE_QUEUED, claim_step, claimed
from ..sql.names import identifier
from ..sql.store import Dialect, SqlStore, Tables, Transaction, Written
from ..sql.versioning import check_version
from .schema import MIGRATIONS, VERSION
from .submit import Submission, duplicate


def _same(value: Any) -> Any:
    return value


_EMPTY: dict[bytes, Any] = {b"{}": dict, b"[]": list, b"null": lambda: None}


def _json_loads(data: bytes | str) -> Any:
    """json.loads, minus its cost for the values most rows hold (an empty payload, no
    dependencies, no result yet): three per job read on the claim's hot path."""
    if len(data) <= 4:
        make = _EMPTY.get(data if isinstance(data, bytes) else data.encode())
        if make is not None:
            return make()
    return json.loads(data)


def _configure(conn: psycopg.Connection[Any]) -> None:
    set_json_loads(_json_loads, conn)


async def _configure_async(conn: psycopg.AsyncConnection[Any]) -> None:
    set_json_loads(_json_loads, conn)


# Autocommit: a single-statement write is one round trip, not BEGIN/.../COMMIT;
# multi-statement writes open `conn.transaction()` explicitly.
# enable_sort=off: every ordered query here has an index in its order. Without it, a
# table bulk-filled since its last ANALYZE gets a plan that sorts every queued job on
# each claim (O(n) instead of O(limit)).
# force_generic_plan: the claim statements are planned once, not per call; custom plans
# cost more to make as finished jobs pile up (bench_claim_scale).
_SESSION = {
    "options": "-c TimeZone=UTC -c enable_sort=off -c plan_cache_mode=force_generic_plan",
    "autocommit": True,
}


_codec = Codec(_same, _same, json_out=Jsonb, json_in=_same, json_text=lambda text: Jsonb(text, _same))
_text_codec = Codec(_same, _same, json_in=_same)  # JSON as text, for COPY and binary arrays
_events = EventCodec(_same, _same, Jsonb, _same)
_DIALECT = Dialect(
    mark="%s",
    time_in=_same,
    time_out=_same,
    codec=_codec,
    events=_events,
    json_object="jsonb_build_object",
    push="(CASE WHEN jsonb_array_length({h}) >= {kept} THEN {h} - 0 ELSE {h} END) || jsonb_build_array({o})",
    greatest="GREATEST",
    arrays=True,
    chunk=1000,
    distinct="IS DISTINCT FROM",
    lock_rows=" FOR UPDATE",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    duplicate=psycopg.errors.UniqueViolation,
    detail=lambda exc: str(getattr(getattr(exc, "diag", None), "message_detail", None) or exc),
)
_COLS = ", ".join(COLUMNS)
_SETS = ", ".join(f"{c} = %s" for c in COLUMNS)
_MARKS = ", ".join("%s" for _ in COLUMNS)


class PostgresStore(SqlStore):
    """A JobStore in one PostgreSQL schema. Create it first with `PostgresStore.migrate`."""

    def __init__(
        self,
        conninfo: str,
        *,
        schema: str = "qrun",
        min_size: int = 1,
        max_size: int = 10,
        pool: ConnectionPool | None = None,
        connect_timeout_s: float = 10.0,
        open: bool = True,
    ) -> None:
        """`connect_timeout_s`: how long opening the store, and each later wait for a
        connection, may take before it fails naming the database (StoreUnreachable).
        `open=False` (as psycopg_pool's pools take it): nothing connects until `open()` or
        the first use, so an app can be built while the database is down."""
        self.schema = identifier(schema, "schema name")
        self.channel = f"{self.schema}_jobs"
        self._conninfo = conninfo
        self._min_size, self._max_size, self._connect_timeout_s = min_size, max_size, connect_timeout_s
        # Async code's connections: a pool per event loop (a pool belongs to the loop it
        # was opened on), gone with its loop.
        self._async_pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncConnectionPool] = (
            weakref.WeakKeyDictionary()
        )
        self._owns_pool = pool is None
        self._given: ConnectionPool | None = pool
        self._opened: ConnectionPool | None = None
        self._opening = threading.Lock()
        s = self.schema
        self._dialect = _DIALECT
        self._tables = Tables.under(f"{s}.", mark="%s", skip_locked=True)
        self._t, self._d, self._paused_t = self._tables.jobs, self._tables.deps, self._tables.paused
        self._submission = Submission(
            self._t, self._d, self.schema, self.channel, row=_codec.row, copy_row=_text_codec.row
        )
        self._types: dict[str, str] = {}
        if open:
            self.open()

    def open(self) -> None:
        """Connect and check the schema's version (at most once; again after a failure,
        so a database that came up meanwhile is found)."""
        with self._opening:
            if self._opened is not None:
                return
            if self._given is None:
                reachable(self._conninfo, self._connect_timeout_s)
            pool = self._given or ConnectionPool(
                self._conninfo,
                min_size=self._min_size,
                max_size=self._max_size,
                kwargs=dict(_SESSION),
                open=True,
                timeout=self._connect_timeout_s,
                name=f"qrun-{self.schema}",
                configure=_configure,
            )
            try:
                with pool.connection() as conn:
                    found = _read_version(conn, self.schema)
                check_version(found, VERSION, f"schema {self.schema!r}", _HOW_TO_MIGRATE)
                with pool.connection() as conn:
                    # Column types, read from the table itself, for the batched writes' arrays.
                    self._types = dict(
                        conn.execute(
                            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute "
                            "WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped",
                            (self._t,),
                        ).fetchall()
                    )
            except BaseException:
                if self._owns_pool:
                    pool.close()
                raise
            self._opened = pool

    @property
    def _pool(self) -> ConnectionPool:
        pool = self._opened
        if pool is None:
            self.open()
            pool = self._opened
            assert pool is not None
        return pool

    # -- schema --------------------------------------------------------------------------
    @classmethod
    def migrate(cls, conninfo: str, *, schema: str = "qrun", connect_timeout_s: float = 10.0) -> int:
        """Apply the migrations the schema lacks (serialized across hosts); returns its version."""
        s = identifier(schema, "schema name")
        reachable(conninfo, connect_timeout_s)
        with psycopg.connect(conninfo) as conn:
            conn.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"qrun-migrate:{s}",))
            found = _read_version(conn, s)
            check_newer = found is not None and found > VERSION
            if check_newer:
                check_version(found, VERSION, f"schema {s!r}", "")
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {s}")
            for number in range((found or 0) + 1, VERSION + 1):
                conn.execute(MIGRATIONS[number - 1].format(s=s))
            conn.execute(
                f"INSERT INTO {s}.meta (key, value) VALUES ('schema_version', %s) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(VERSION),),
            )
        return VERSION

    def close(self) -> None:
        """Close the pool this store opened (a later use opens a new one)."""
        with self._opening:
            pool, self._opened = self._opened, None
        if self._owns_pool and pool is not None:
            pool.close()

    def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._pool_execute(sql, args)

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> Written:
        with self._pool.connection() as conn:
            cur = conn.execute(sql, args)
            return Written(cur.fetchall() if cur.description else [], cur.rowcount)

    def _transaction(self) -> AbstractContextManager[psycopg.Cursor[Any]]:
        return self._cursor()

    @contextmanager
    def _snapshot(self) -> Iterator[psycopg.Cursor[Any]]:
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            yield cur

    @contextmanager
    def _cursor(self) -> Iterator[psycopg.Cursor[Any]]:
        """A cursor in a transaction of the pool's, committed on exit."""
        with self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            yield cur

    # -- writes ----------------------------------------------------------------------------
    def submit(self, jobs: Sequence[Job], *, connection: psycopg.Connection[Any] | None = None) -> list[str]:
        """Insert `jobs` atomically. With `connection`, the insert joins the caller's open
        transaction (R-F5): the jobs exist only if the caller commits it, and a refused
        submit is undone alone (a savepoint), leaving the caller's transaction usable."""
        if not jobs:
            return []
        if connection is not None:
            with connection.transaction(), connection.cursor() as cur:
                return self._submission.run(cur, self._submission.steps(jobs))
        if len(jobs) == 1 and not jobs[0].depends_on and jobs[0].unique is None:
            # The common case, one statement: insert and wake the listeners.
            try:
                with self._pool.connection() as conn:
                    conn.execute(
                        f"WITH ins AS (INSERT INTO {self._t} ({_COLS}) VALUES ({_MARKS})) "
                        "SELECT pg_notify(%s, '')",
                        (*_codec.row(jobs[0]), self.channel),
                    )
            except psycopg.errors.UniqueViolation as exc:
                raise duplicate(exc) from exc
            return [jobs[0].id]
        with self._cursor() as cur:
            return self._submission.run(cur, self._submission.steps(jobs))

    async def submit_async(
        self, jobs: Sequence[Job], *, connection: psycopg.AsyncConnection[Any] | None = None
    ) -> list[str]:
        """`submit` on psycopg's async connections, so an event loop never waits on the
        database; with `connection`, in the caller's open transaction (R-F5), as `submit`."""
        if not jobs:
            return []
        if connection is not None:
            return await self._submit_on(connection, jobs)
        async with (await self._async_pool()).connection() as conn:
            return await self._submit_on(conn, jobs)

    async def _submit_on(self, conn: psycopg.AsyncConnection[Any], jobs: Sequence[Job]) -> list[str]:
        async with conn.transaction(), conn.cursor() as cur:
            return await self._submission.run_async(cur, self._submission.steps(jobs))

    async def get_async(self, job_id: str) -> Job | None:
        async with (await self._async_pool()).connection() as conn:
            cur = await conn.execute(f"SELECT {_COLS} FROM {self._t} WHERE id = %s", (job_id,))
            row = await cur.fetchone()
        return _codec.job(row) if row else None

    async def _async_pool(self) -> AsyncConnectionPool:
        loop = asyncio.get_running_loop()
        pool = self._async_pools.get(loop)
        if pool is None:
            pool = AsyncConnectionPool(
                self._conninfo,
                min_size=1,
                max_size=self._max_size,
                kwargs=dict(_SESSION),
                open=False,
                timeout=self._connect_timeout_s,
                name=f"qrun-{self.schema}-async",
                configure=_configure_async,
            )
            self._async_pools[loop] = pool  # before the first await: one pool per loop
            await pool.open(wait=True, timeout=self._connect_timeout_s)
            if self._opened is None:  # not opened yet: its schema checked here, on the loop
                try:
                    async with pool.connection() as conn:
                        found = await _aread_version(conn, self.schema)
                    check_version(found, VERSION, f"schema {self.schema!r}", _HOW_TO_MIGRATE)
                except BaseException:
                    self._async_pools.pop(loop, None)
                    await pool.close()
                    raise
        return pool

    async def aclose(self) -> None:
        """Close this event loop's connections (`close` closes the sync ones)."""
        pool = self._async_pools.pop(asyncio.get_running_loop(), None)
        if pool is not None:
            await pool.close()

    def claim(self, request: ClaimRequest) -> list[Decision]:
        worker, limit, now, lease_until = request.worker, request.limit, request.now, request.lease_until
        policy, queues, pools, kinds = request.policy, request.queues, request.pools, request.kinds
        if limit <= 0:
            return []
        qsql, qargs = _scope_filter(queues, pools, kinds)
        if lease_until > now:
            fast = self._claim_fast(worker, limit, now, lease_until, policy, qsql, qargs)
            if fast is not None:
                return fast
        with self._transaction() as cur:
            return self._claim_general(cur, worker, limit, now, lease_until, policy, qsql, qargs)

    def _claim_fast(
        self,
        worker: str,
        limit: int,
        now: datetime,
        lease_until: datetime,
        policy: Policy,
        qsql: str,
        qargs: tuple[Any, ...],
    ) -> list[Decision] | None:
        """The common case in one statement: nothing to adopt, and no concurrency key or pool
        among the candidates. The statement writes the Claim transition (the same columns
        `decide` sets, which the contract holds equal; see `fast_claim`) and returns the
        claimed rows. Returns None (nothing written) when the general path is needed."""
        rows = self._pool_execute(self._fast_sql(qsql), _fast_args(worker, limit, now, lease_until, qargs))
        return _fast_claimed(rows, worker)

    def _fast_sql(self, qsql: str) -> str:
        t, d = self._t, self._d
        # The filter's positional marks, named: the statement is written with names.
        parts = qsql.split("%s")
        q = "".join(f"{part}%(q{i})s" for i, part in enumerate(parts[:-1])) + parts[-1]
        new = ", ".join(f"u.{c}" for c in COLUMNS)
        set_claim = CLAIM_SET.format(
            j="j.",
            worker="%(worker)s",
            until="%(until)s",
            now="%(now)s",
            started="GREATEST(%(now)s, j.requested_at)",
            history=claim_step(_DIALECT.step, j="j.", worker="%(worker)s", at="%(at)s"),
        )
        return f"""
            WITH adoptable AS (
                SELECT 1 FROM {t} WHERE status = 'running' AND lease_worker IS NULL{q} LIMIT 1
            ), c AS (
                SELECT {_COLS} FROM {t} j
                WHERE NOT EXISTS (SELECT 1 FROM adoptable)
                  AND status = 'queued' AND available_at <= %(now)s{q}
                  AND queue NOT IN (SELECT name FROM {self._paused_t})
                  AND NOT EXISTS (SELECT 1 FROM {d} x LEFT JOIN {t} p ON p.id = x.dep_id
                                  WHERE x.job_id = j.id AND p.status IS DISTINCT FROM 'done')
                ORDER BY priority DESC, available_at, requested_at, id
                LIMIT %(limit)s FOR UPDATE SKIP LOCKED
            ), keyed AS (
                SELECT 1 FROM c WHERE concurrency_key IS NOT NULL OR pool IS NOT NULL OR {IMPOSSIBLE_QUEUED}
            ), u AS (
                UPDATE {t} j SET {set_claim}
                FROM c WHERE j.id = c.id AND NOT EXISTS (SELECT 1 FROM keyed)
                RETURNING j.*
            )
            SELECT 'claimed', {new} FROM u
            UNION ALL
            SELECT 'fallback', {", ".join("NULL" for _ in range(len(COLUMNS)))}
            WHERE EXISTS (SELECT 1 FROM adoptable) OR EXISTS (SELECT 1 FROM keyed)
        """

    def _pool_execute(self, sql: str, args: Mapping[str, Any] | Sequence[Any]) -> list[Any]:
        with self._pool.connection() as conn:
            return conn.execute(sql, args).fetchall()

    def _try_lock(self, tx: Transaction, kind: str, name: str) -> bool:
        """The key's or pool's advisory lock, held to commit, if no other claimer has it."""
        locked = tx.execute(
            "SELECT pg_try_advisory_xact_lock(hashtextextended(%s, 0))",
            (f"qrun-{kind}:{self.schema}:{name}",),
        ).fetchone()
        return bool(locked and locked[0])

    def apply(self, decision: Decision) -> ApplyResult:
        return self.apply_many([decision])[0]

    def apply_many(self, decisions: Sequence[Decision]) -> list[ApplyResult]:
        """The decisions that change the same columns are written by one UPDATE over
        arrays (unnest), each row guarded by its own version: a batch of completions is
        one statement, one round trip and one commit. With durable effects, the winners'
        follow-ups are inserted in the same transaction."""
        if not decisions:
            return []
        ids = [d.job.id for d in decisions]
        with self._pool.connection() as conn:
            try:
                if len(set(ids)) != len(ids):
                    return self._in_order(conn, decisions)
                writes = self._cas_groups(decisions)
                follow = any(d.durable for d in decisions)
                cascade: dict[str, list[Decision]] = {}
                if len(writes) == 1 and not follow:
                    won = {r[0] for r in conn.execute(*writes[0]).fetchall()}  # autocommit: one statement
                else:
                    with conn.transaction():
                        with conn.pipeline():
                            curs = [conn.execute(sql, args) for sql, args in writes]
                        won = {r[0] for c in curs for r in c.fetchall()}
                        if follow:
                            cascade = self._follow_ups(conn, [d for d in decisions if d.job.id in won])
            except psycopg.errors.UniqueViolation as exc:
                raise self._unique_conflict(conn, decisions) from exc
            return dependents.attached(decisions, self._results(conn, decisions, won), cascade)

    def _results(
        self, conn: psycopg.Connection[Any], decisions: Sequence[Decision], won: set[str]
    ) -> list[ApplyResult]:
        lost = [d.job.id for d in decisions if d.job.id not in won]
        return cas.results(decisions, won, self._rows(conn, lost, lock=False) if lost else {})

    def apply_then_claim(
        self, decisions: Sequence[Decision], request: ClaimRequest
    ) -> tuple[list[ApplyResult], list[Decision]]:
        """BEGIN, the batch's UPDATEs, the one-statement claim and COMMIT in one pipeline:
        one round trip and one commit where `apply_many` and `claim` take two. Anything
        off the common path (a job named twice, follow-ups, a claim that needs the
        general path) is done as the two calls."""
        worker, limit, now, lease_until = request.worker, request.limit, request.now, request.lease_until
        policy, queues, pools, kinds = request.policy, request.queues, request.pools, request.kinds
        ids = [d.job.id for d in decisions]
        plain = ids and len(set(ids)) == len(ids) and not any(d.durable for d in decisions)
        if not plain or limit <= 0 or lease_until <= now:
            return self.apply_many(decisions), self.claim(request)
        qsql, qargs = _scope_filter(queues, pools, kinds)
        writes = self._cas_groups(decisions)
        with self._pool.connection() as conn:
            try:
                with conn.pipeline(), conn.transaction():
                    curs = [conn.execute(sql, a) for sql, a in writes]
                    claim = conn.execute(
                        self._fast_sql(qsql), _fast_args(worker, limit, now, lease_until, qargs)
                    )
            except psycopg.errors.UniqueViolation as exc:
                raise self._unique_conflict(conn, decisions) from exc
            results = self._results(conn, decisions, {r[0] for c in curs for r in c.fetchall()})
            fast = _fast_claimed(claim.fetchall(), worker)
        if fast is None:  # the statement wrote nothing: the general path
            with self._transaction() as cur:
                return results, self._claim_general(cur, worker, limit, now, lease_until, policy, qsql, qargs)
        return results, fast

    def _in_order(self, conn: psycopg.Connection[Any], decisions: Sequence[Decision]) -> list[ApplyResult]:
        """A batch naming a job twice: its rows are locked and each decision is checked
        and written in turn, as if applied one after another (rare: no loop of qrun's
        sends one)."""
        out: list[ApplyResult] = []
        with conn.transaction():
            stored: dict[str, Job | None] = dict(self._rows(conn, [d.job.id for d in decisions], lock=True))
            winners = []
            for d in decisions:
                now = stored.get(d.job.id)
                if now is None or now.version != d.expected_version:
                    out.append(Conflict(now))
                    continue
                conn.execute(*self._cas(d))
                stored[d.job.id] = d.job
                winners.append(d)
                out.append(Applied(d.job))
            cascade = self._follow_ups(conn, winners)
        return dependents.attached(decisions, out, cascade)

    def _rows(self, conn: psycopg.Connection[Any], ids: Sequence[str], *, lock: bool) -> dict[str, Job]:
        sql = f"SELECT {_COLS} FROM {self._t} WHERE id = ANY(%s) ORDER BY id" + (
            " FOR UPDATE" if lock else ""
        )
        return {
            job.id: job for job in map(_codec.job, conn.execute(sql, (list(dict.fromkeys(ids)),)).fetchall())
        }

    def _cas(self, decision: Decision) -> tuple[str, tuple[Any, ...]]:
        columns, values = _codec.changes(decision)
        sets = ", ".join(f"{c} = %s" for c in columns)
        sql = f"UPDATE {self._t} SET {sets} WHERE id = %s AND version = %s RETURNING id"
        return sql, (*values, decision.job.id, decision.expected_version)

    def _cas_groups(self, decisions: Sequence[Decision]) -> list[tuple[str, tuple[Any, ...]]]:
        out = []
        for columns, rows in cas.by_columns(decisions, _text_codec).items():
            # Binary arrays, JSON as text cast in the statement: psycopg's text format
            # escapes a JSON value element by element, ten times the cost (a timeline
            # step per row made the worker's drain 26% slower that way).
            types = (
                "text",
                "integer",
                *("text" if self._types[c] == "jsonb" else self._types[c] for c in columns),
            )
            arrays = ", ".join(f"%b::{t}[]" for t in types)
            sets = ", ".join(f"{c} = x.{c}{'::jsonb' if self._types[c] == 'jsonb' else ''}" for c in columns)
            sql = (
                f"UPDATE {self._t} j SET {sets} "
                f"FROM unnest({arrays}) AS x({', '.join((*cas.KEYS, *columns))}) "
                'WHERE j.id = x.cas_id COLLATE "C" AND j.version = x.cas_version RETURNING j.id'
            )
            out.append((sql, tuple(list(col) for col in zip(*rows, strict=True))))
        return out

    def _follow_ups(
        self, conn: psycopg.Connection[Any], winners: Sequence[Decision]
    ) -> dict[str, list[Decision]]:
        """The winners' durable effects, in their transaction: follow-up jobs inserted, and
        the ends and revivals of dependencies carried down to the jobs waiting on them."""
        jobs = [e.job for d in winners for e in d.durable if isinstance(e, EnqueueJob)]
        if jobs:
            insert = f"INSERT INTO {self._t} ({_COLS}) VALUES ({_MARKS}) ON CONFLICT (id) DO NOTHING"
            with conn.cursor() as cur:
                cur.executemany(insert, [_codec.row(j) for j in jobs])
                cur.execute("SELECT pg_notify(%s, '')", (self.channel,))
        return dependents.settle(winners, DependentRows(conn, _DIALECT, self._t, self._d))

    def _unique_conflict(self, conn: psycopg.Connection[Any], decisions: Sequence[Decision]) -> Exception:
        for decision in decisions:
            job = decision.job
            if job.unique_slot is None:
                continue
            held = conn.execute(
                f"SELECT id FROM {self._t} WHERE unique_slot = %s", (job.unique_slot,)
            ).fetchone()
            if held is not None and held[0] != job.id:
                return UniqueConflict(unique_conflict_message(job, str(held[0])))
        return cas.taken_twice(decisions) or StoreError(
            "a write of the batch broke a unique index; nothing was written"
        )

    # -- daemon names (R-G1) ----------------------------------------------------------------
    @contextmanager
    def lock_name(self, name: str) -> Iterator[NameHold]:
        """A session advisory lock on its own connection. The server releases it when
        that connection ends, however the holder died, and also when the connection
        drops under a live holder: `held()` asks the connection (keepalives and a TCP
        user timeout bound how long a silent network can hide that)."""
        self.open()  # a schema of another version is refused before the name is taken
        key = f"qrun-name:{self.schema}:{name}"
        # Named for operators (pg_stat_activity), and for tests that end it.
        settings = {
            **_held_connection(self._connect_timeout_s),
            "application_name": self.name_lock_label(name),
        }
        with psycopg.connect(self._conninfo, autocommit=True, **settings) as conn:
            row = conn.execute("SELECT pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)).fetchone()
            if not (row and row[0]):
                raise NameTaken(
                    f"a daemon named {name!r} is running on schema {self.schema!r} of this database; "
                    "give this one another name (--name or QRUN_WORKER_NAME)"
                )
            yield _SessionHold(conn)

    def name_lock_label(self, name: str) -> str:
        """The application_name of the connection holding `name` (at most 63 bytes)."""
        return f"qrun name {self.schema}.{name}".encode()[:63].decode(errors="ignore")

    # -- wake-up -----------------------------------------------------------------------------
    @contextmanager
    def listen(self) -> Iterator[Listener]:
        """A LISTEN connection: `wait(timeout)` returns when jobs may have been submitted.
        A poller must still poll: a pooler in transaction mode drops LISTEN (R-G6)."""
        with psycopg.connect(self._conninfo, autocommit=True) as conn:
            conn.execute(f"LISTEN {self.channel}")
            yield Listener(conn)


def _held_connection(timeout_s: float) -> dict[str, Any]:
    """libpq settings for a connection whose loss must show within seconds."""
    return {
        "connect_timeout": max(1, round(timeout_s)),
        "keepalives": 1,
        "keepalives_idle": 5,
        "keepalives_interval": 2,
        "keepalives_count": 3,
        "tcp_user_timeout": 10_000,  # ms: an unanswered write fails instead of hanging
    }


class _SessionHold:
    """Held while its connection lives: the server holds a session lock exactly as long."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def held(self) -> bool:
        if self._conn.closed or self._conn.broken:
            return False
        try:
            self._conn.execute("SELECT 1")
        except psycopg.Error:
            return False
        return True


class Listener:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def wait(self, timeout_s: float) -> bool:
        """True if a notification arrived within `timeout_s`; drains any others queued."""
        got = False
        for _ in self._conn.notifies(timeout=timeout_s, stop_after=1):
            got = True
        if got:
            for _ in self._conn.notifies(timeout=0):
                pass
        return got


_HOW_TO_MIGRATE = "PostgresStore.migrate(conninfo, schema=...) or `qrun migrate`"


async def _aread_version(conn: psycopg.AsyncConnection[Any], schema: str) -> int | None:
    row = await (await conn.execute("SELECT to_regclass(%s)", (f"{schema}.meta",))).fetchone()
    if not row or row[0] is None:
        return None
    cur = await conn.execute(f"SELECT value FROM {schema}.meta WHERE key = 'schema_version'")
    found = await cur.fetchone()
    return int(found[0]) if found else None


def _read_version(conn: psycopg.Connection[Any], schema: str) -> int | None:
    row = conn.execute("SELECT to_regclass(%s)", (f"{schema}.meta",)).fetchone()
    if not row or row[0] is None:
        return None
    found = conn.execute(f"SELECT value FROM {schema}.meta WHERE key = 'schema_version'").fetchone()
    return int(found[0]) if found else None


def _fast_args(
    worker: str, limit: int, now: datetime, lease_until: datetime, qargs: tuple[Any, ...]
) -> dict[str, Any]:
    return {
        "now": now,
        "at": micros(now),
        "limit": limit,
        "worker": worker,
        "until": lease_until,
        **{f"q{i}": arg for i, arg in enumerate(qargs)},
    }


def _fast_claimed(rows: list[Any], worker: str) -> list[Decision] | None:
    """The one-statement claim's decisions, or None where it wrote nothing and said why
    (a candidate needs the general path)."""
    if rows and rows[0][0] == "fallback":
        return None
    return claimed((_codec.job(row[1:]) for row in rows), worker)


def _scope_filter(
    queues: Sequence[str] | None, pools: Sequence[str] | None, kinds: Sequence[str] | None
) -> tuple[str, tuple[Any, ...]]:
    """`core.claim.in_scope` as SQL: the job's queue among `queues`, its kind among
    `kinds`, and its pool (if it has one) among `pools`; None leaves that side open."""
    sql = ""
    args: tuple[Any, ...] = ()
    if queues is not None:
        sql, args = " AND queue = ANY(%s)", (list(queues),)
    if kinds is not None:
        sql, args = f"{sql} AND kind = ANY(%s)", (*args, list(kinds))
    if pools is not None:
        sql, args = f"{sql} AND (pool IS NULL OR pool = ANY(%s))", (*args, list(pools))
    return sql, args


def reachable(conninfo: str, timeout_s: float) -> None:
    """Connect once, at most `timeout_s`, so a wrong URL fails now, saying why, instead
    of a pool retrying it in the background while every caller waits."""
    try:
        psycopg.connect(conninfo, connect_timeout=max(1, round(timeout_s))).close()
    except psycopg.Error as exc:
        # libpq's words, on one line: "Connection refused" and its hint alike.
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        reason = reason.removeprefix("connection failed: ") or type(exc).__name__
        raise StoreUnreachable(f"cannot connect to PostgreSQL at {mask(conninfo)}: {reason}") from None
