"""The SQLite store: one file, safe for several threads and processes.

Every write runs in `BEGIN IMMEDIATE`, which takes the database's write lock up front:
a claim reads the candidates and writes the claims under that one lock, so per-key
concurrency limits and "exactly one claimer wins" hold across processes without any
check-then-act window. WAL lets readers proceed while a writer holds the lock, and the
busy timeout makes a second writer wait instead of failing.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from qrun.core import ClaimRequest, Decision, EnqueueJob, Job, Policy
from qrun.core.dependents import at_submit
from qrun.core.errors import InvalidInput
from qrun.core.ports import (
    Applied,
    ApplyResult,
    Conflict,
    StoreUnreachable,
    UniqueConflict,
    unique_conflict_message,
)
from qrun.core.submission import check, resolve

from .. import dependents
from ..locks import FileHold, file_lock
from ..sql import cas
from ..sql.codec import COLUMNS, Codec, dumps
from ..sql.codec import from_micros as _from_micros
from ..sql.codec import micros as _micros
from ..sql.dependent_rows import DependentRows
from ..sql.event_codec import EventCodec
from ..sql.fast_claim import CLAIM_SET, IMPOSSIBLE_QUEUED, claim_step, claimed
from ..sql.names import identifier
from ..sql.store import Dialect, SqlStore, Tables, Written
from ..sql.versioning import check_version
from .schema import MIGRATIONS, VERSION

_CHUNK = 500
_SYNC = ("FULL", "NORMAL", "EXTRA")
_VALUES_LIMIT = 32_766  # bound values one statement may have in a default SQLite build
_MAX_VALUES = 30_000  # what the store binds at most, under that limit


_codec = Codec(_micros, _from_micros)
_events = EventCodec(_micros, _from_micros, dumps, json.loads)
_DIALECT = Dialect(
    mark="?",
    time_in=_micros,
    time_out=_from_micros,
    codec=_codec,
    events=_events,
    json_object="json_object",
    push="json_insert(CASE WHEN json_array_length({h}) >= {kept} THEN json_remove({h}, '$[0]') ELSE {h} END, "
    "'$[#]', {o})",
    greatest="max",
    arrays=False,
    chunk=_CHUNK,
    distinct="IS NOT",
    lock_rows="",  # every write transaction holds the database's write lock
    skip_locked="",
    duplicate=sqlite3.IntegrityError,
    detail=str,
)
_COLS = ", ".join(COLUMNS)
_MARKS = ", ".join("?" for _ in COLUMNS)


class SqliteStore(SqlStore):
    """A JobStore on one SQLite file. Create the schema first with `SqliteStore.migrate`."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        prefix: str = "qrun_",
        busy_timeout_s: float = 30.0,
        synchronous: str = "FULL",
        open: bool = True,
    ) -> None:
        """`synchronous`: FULL (the default) syncs the WAL at every commit, so a committed
        job survives a power loss; NORMAL syncs only at checkpoints (a crash of the
        process loses nothing, a power loss may lose the last commits). `open=False`
        (as psycopg_pool's pools take it): nothing touches the file until `open()` or
        the first use, which checks the schema then."""
        if str(path) in ("", ":memory:") or str(path).startswith("file::memory:"):
            raise InvalidInput(
                "SqliteStore needs a file: every thread and process opens its own connection, and "
                "an in-memory database is private to one connection (use MemoryStore instead)"
            )
        if synchronous.upper() not in _SYNC:
            raise InvalidInput(f"synchronous must be one of {', '.join(_SYNC)}, got {synchronous!r}")
        self._sync = synchronous.upper()
        self.path = Path(path)
        self.prefix = identifier(prefix, "table prefix")
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        p = self.prefix
        self._dialect = _DIALECT
        self._tables = Tables.under(p, mark="?", skip_locked=False)
        self._t, self._d, self._m = self._tables.jobs, self._tables.deps, f"{p}meta"
        self._paused_t = self._tables.paused
        self._checked = False
        if open:
            self.open()

    def open(self) -> None:
        """Open the file and check its schema's version (at most once; again after a
        failure, so a file made meanwhile is found)."""
        if self._checked:
            return
        found = self._found_version()
        check_version(found, VERSION, str(self.path), "SqliteStore.migrate(path) or `qrun migrate`")
        self._checked = True

    # -- schema ------------------------------------------------------------------------
    @classmethod
    def migrate(cls, path: str | os.PathLike[str], *, prefix: str = "qrun_") -> int:
        """Apply the migrations this file lacks; returns the version now in the file."""
        prefix = identifier(prefix, "table prefix")
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        try:
            conn = _connect(Path(path), 30.0)
        except sqlite3.DatabaseError as exc:
            raise StoreUnreachable(f"cannot open the SQLite database {path}: {exc}") from None
        try:
            conn.execute("BEGIN IMMEDIATE")
            found = _read_version(conn, prefix)
            if found is not None and found > VERSION:
                conn.execute("ROLLBACK")
                check_version(found, VERSION, str(path), "")
            for number in range((found or 0) + 1, VERSION + 1):
                for statement in MIGRATIONS[number - 1].format(p=prefix).split(";"):
                    if statement.strip():
                        conn.execute(statement)
            conn.execute(
                f"INSERT INTO {prefix}meta (key, value) VALUES ('schema_version', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(VERSION),),
            )
            conn.execute("COMMIT")
            return VERSION
        finally:
            conn.close()

    def _found_version(self) -> int | None:
        try:
            return _read_version(self._connection(), self.prefix)
        except sqlite3.DatabaseError as exc:
            folder = "" if self.path.parent.is_dir() else f" (its folder {self.path.parent} does not exist)"
            raise StoreUnreachable(f"cannot open the SQLite database {self.path}{folder}: {exc}") from None

    # -- connections -------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and self._checked:  # every statement comes here: the short way first
            return conn
        self.open()
        return self._connection()

    def _connection(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(self.path, self._busy_timeout_s, self._sync)
            self._local.conn = conn
            with self._all_lock:
                self._all.append(conn)
        return conn

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def _fetch(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        return self._conn().execute(sql, args).fetchall()

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._tx()

    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN")  # deferred: a read transaction, one snapshot of the WAL
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def _execute(self, sql: str, args: Sequence[Any] = ()) -> Written:
        with self._tx() as c:
            cur = c.execute(sql, args)
            return Written(cur.fetchall(), cur.rowcount)

    def close(self) -> None:
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    # -- daemon names (R-G1) --------------------------------------------------------------
    def lock_name(self, name: str) -> AbstractContextManager[FileHold]:
        """A lock file beside the database (`file_lock`); dead daemons' files go first."""
        path = self.path.with_name(f"{self.path.name}.{self.prefix}{quote(name, safe='')}.lock")
        return file_lock(
            path,
            lambda pid: (
                f"a daemon named {name!r} is running on {self.path} (pid {pid}); "
                "give this one another name (--name or QRUN_WORKER_NAME)"
            ),
            siblings=f"{glob.escape(self.path.name)}.{glob.escape(self.prefix)}*.lock",
        )

    # -- writes --------------------------------------------------------------------------
    def submit(self, jobs: Sequence[Job]) -> list[str]:
        with self._tx() as c:
            # Under BEGIN IMMEDIATE no other writer runs, so reading a slot's holder and
            # inserting cannot race; the unique index on unique_slot is the backstop.
            fresh, ids = resolve(jobs, lambda slot: self._holder(c, slot))
            check(fresh, lambda ids: self._existing(c, ids))
            outside = sorted({d for j in fresh for d in j.depends_on} - {j.id for j in fresh})
            ended = DependentRows(c, _DIALECT, self._t, self._d).statuses(outside) if outside else {}
            fresh = at_submit(fresh, ended.get)
            c.executemany(
                f"INSERT INTO {self._t} ({_COLS}) VALUES ({_MARKS})", [_codec.row(j) for j in fresh]
            )
            c.executemany(
                f"INSERT INTO {self._d} (job_id, dep_id) VALUES (?, ?)",
                [(j.id, d) for j in fresh for d in j.depends_on],
            )
        return ids

    def _holder(self, c: sqlite3.Connection, slot: str) -> str | None:
        row = c.execute(f"SELECT id FROM {self._t} WHERE unique_slot = ?", (slot,)).fetchone()
        return str(row[0]) if row else None

    def claim(self, request: ClaimRequest) -> list[Decision]:
        worker, limit, now, lease_until = request.worker, request.limit, request.now, request.lease_until
        policy, queues, pools, kinds = request.policy, request.queues, request.pools, request.kinds
        if limit <= 0:
            return []
        with self._tx() as c:
            return self._claim_in(c, worker, limit, now, lease_until, policy, queues, pools, kinds)

    def _claim_in(
        self,
        c: sqlite3.Connection,
        worker: str,
        limit: int,
        now: datetime,
        lease_until: datetime,
        policy: Policy,
        queues: Sequence[str] | None,
        pools: Sequence[str] | None,
        kinds: Sequence[str] | None,
    ) -> list[Decision]:
        qsql, qargs = _scope_filter(queues, pools, kinds)
        if lease_until > now:
            fast = self._claim_fast(c, worker, limit, now, lease_until, policy, qsql, qargs)
            if fast:
                return fast
        return self._claim_general(c, worker, limit, now, lease_until, policy, qsql, qargs)

    def _claim_fast(
        self,
        c: sqlite3.Connection,
        worker: str,
        limit: int,
        now: datetime,
        lease_until: datetime,
        policy: Policy,
        qsql: str,
        qargs: tuple[str, ...],
    ) -> list[Decision]:
        """The common case in one statement (nothing to adopt, no concurrency key or pool
        among the candidates), each claimed row checked against `decide`. Claims nothing, and
        leaves the rest to the general path, when that case does not hold."""
        t, d = self._t, self._d
        set_claim = CLAIM_SET.format(
            j="",
            worker=":worker",
            until=":until",
            now=":now",
            started="max(:now, requested_at)",
            history=claim_step(_DIALECT.step, j="", worker=":worker", at=":now"),
        )
        qnamed = qsql.replace("?", ":q{}").format(*range(len(qargs))) if qargs else qsql
        sql = f"""
            WITH c AS (
                SELECT id, concurrency_key, pool, {IMPOSSIBLE_QUEUED} AS impossible FROM {t} j
                WHERE status = 'queued' AND available_at <= :now{qnamed}
                  AND queue NOT IN (SELECT name FROM {self._paused_t})
                  AND NOT EXISTS (SELECT 1 FROM {d} x LEFT JOIN {t} p ON p.id = x.dep_id
                                  WHERE x.job_id = j.id AND (p.status IS NULL OR p.status != 'done'))
                ORDER BY priority DESC, available_at, requested_at, id LIMIT :limit
            )
            UPDATE {t} SET {set_claim}
            WHERE id IN (SELECT id FROM c)
              AND NOT EXISTS (
                SELECT 1 FROM c WHERE concurrency_key IS NOT NULL OR pool IS NOT NULL OR impossible
              )
              AND NOT EXISTS (SELECT 1 FROM {t} WHERE status = 'running' AND lease_worker IS NULL{qnamed})
            RETURNING {_COLS}
        """
        args = {"now": _micros(now), "until": _micros(lease_until), "worker": worker, "limit": limit}
        args.update({f"q{i}": q for i, q in enumerate(qargs)})
        rows = c.execute(sql, args).fetchall()
        return claimed(map(_codec.job, rows), worker)

    def apply(self, decision: Decision) -> ApplyResult:
        return self.apply_many([decision])[0]

    def apply_many(self, decisions: Sequence[Decision]) -> list[ApplyResult]:
        if not decisions:
            return []
        return self._atomically(decisions, None)[0]

    def apply_then_claim(
        self, decisions: Sequence[Decision], request: ClaimRequest
    ) -> tuple[list[ApplyResult], list[Decision]]:
        """Both under one write lock, one commit."""
        worker, limit, now, lease_until = request.worker, request.limit, request.now, request.lease_until
        policy, queues, pools, kinds = request.policy, request.queues, request.pools, request.kinds
        claim = (worker, limit, now, lease_until, policy, queues, pools, kinds) if limit > 0 else None
        return self._atomically(decisions, claim)

    def _atomically(
        self, decisions: Sequence[Decision], claim: tuple[Any, ...] | None
    ) -> tuple[list[ApplyResult], list[Decision]]:
        try:
            with self._tx() as c:
                results = self._apply_in(c, decisions)
                return results, self._claim_in(c, *claim) if claim is not None else []
        except sqlite3.IntegrityError as exc:
            for decision in decisions:
                holder = self._holder(self._conn(), decision.job.unique_slot or "")
                if holder is not None and holder != decision.job.id:
                    raise UniqueConflict(unique_conflict_message(decision.job, holder)) from exc
            twice = cas.taken_twice(decisions)
            if twice is not None:
                raise twice from exc
            raise

    def _apply_in(self, c: sqlite3.Connection, decisions: Sequence[Decision]) -> list[ApplyResult]:
        ids = [d.job.id for d in decisions]
        if len(set(ids)) != len(ids):
            results = self._in_order(c, decisions)
        else:
            won = self._write_groups(c, decisions) if decisions else set()
            for d in decisions:
                if d.job.id in won:
                    self._follow_ups(c, d)
            lost = [i for i in ids if i not in won]
            results = cas.results(decisions, won, self._rows(c, lost) if lost else {})
        winners = [d for d, r in zip(decisions, results, strict=True) if isinstance(r, Applied)]
        cascade = dependents.settle(winners, DependentRows(c, _DIALECT, self._t, self._d))
        return dependents.attached(decisions, results, cascade)

    def _write_groups(self, c: sqlite3.Connection, decisions: Sequence[Decision]) -> set[str]:
        """One UPDATE ... FROM (VALUES ...) per set of changed columns (and per chunk of
        rows, within SQLite's limit on bound values); returns the ids written."""
        won: set[str] = set()
        for columns, rows in cas.by_columns(decisions, _codec).items():
            names = (*cas.KEYS, *columns)
            row_marks = "(" + ", ".join("?" for _ in names) + ")"
            per = max(1, _MAX_VALUES // len(names))
            for start in range(0, len(rows), per):
                chunk = rows[start : start + per]
                t = self._t
                sql = (
                    f"WITH x({', '.join(names)}) AS (VALUES {', '.join(row_marks for _ in chunk)}) "
                    f"UPDATE {t} SET {cas.sets(columns, 'x')} FROM x "
                    f"WHERE {t}.id = x.cas_id AND {t}.version = x.cas_version RETURNING {t}.id"
                )
                won.update(r[0] for r in c.execute(sql, [v for row in chunk for v in row]).fetchall())
        return won

    def _in_order(self, c: sqlite3.Connection, decisions: Sequence[Decision]) -> list[ApplyResult]:
        """A batch naming a job twice: each decision checked and written in turn, under
        the write lock, as if applied one after another."""
        stored: dict[str, Job | None] = dict(self._rows(c, [d.job.id for d in decisions]))
        out: list[ApplyResult] = []
        for d in decisions:
            now = stored.get(d.job.id)
            if now is None or now.version != d.expected_version or not self._write(c, d):
                out.append(Conflict(now))
                continue
            stored[d.job.id] = d.job
            out.append(Applied(d.job))
        return out

    def _rows(self, c: sqlite3.Connection, ids: Sequence[str]) -> dict[str, Job]:
        found: dict[str, Job] = {}
        for clause, args in _DIALECT.ids_in("id", list(dict.fromkeys(ids))):
            rows = c.execute(f"SELECT {_COLS} FROM {self._t} WHERE {clause}", args).fetchall()
            found.update((job.id, job) for job in map(_codec.job, rows))
        return found

    def _write(self, c: sqlite3.Connection, decision: Decision) -> bool:
        job = decision.job
        columns, values = _codec.changes(decision)
        cur = c.execute(
            f"UPDATE {self._t} SET {', '.join(f'{c} = ?' for c in columns)} WHERE id = ? AND version = ?",
            (*values, job.id, decision.expected_version),
        )
        if cur.rowcount != 1:
            return False
        self._follow_ups(c, decision)
        return True

    def _follow_ups(self, c: sqlite3.Connection, decision: Decision) -> None:
        for effect in decision.durable:
            if isinstance(effect, EnqueueJob):
                c.execute(
                    f"INSERT INTO {self._t} ({_COLS}) VALUES ({_MARKS}) ON CONFLICT (id) DO NOTHING",
                    _codec.row(effect.job),
                )


def _connect(path: Path, busy_timeout_s: float, synchronous: str = "FULL") -> sqlite3.Connection:
    # Made 0600 before SQLite makes it, whatever the umask (R-I5): it holds every payload
    # and result. SQLite gives the -wal and -shm files the database's own mode. O_EXCL:
    # an existing file is never opened here, since closing any descriptor of a file drops
    # every POSIX lock this process holds on it, the other connections' included.
    with contextlib.suppress(FileExistsError, FileNotFoundError):  # no folder: SQLite says so
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_s, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
    # The bound-values limit of the default SQLite build (some builds allow more): the
    # store splits its statements to fit it, and behaves the same on every build.
    conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, _VALUES_LIMIT)
    return conn


def _read_version(conn: sqlite3.Connection, prefix: str) -> int | None:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (f"{prefix}meta",)
    ).fetchone()
    if not exists:
        return None
    row = conn.execute(f"SELECT value FROM {prefix}meta WHERE key = 'schema_version'").fetchone()
    return int(row[0]) if row else None


def _scope_filter(
    queues: Sequence[str] | None, pools: Sequence[str] | None, kinds: Sequence[str] | None
) -> tuple[str, tuple[str, ...]]:
    """`core.claim.in_scope` as SQL: the job's queue among `queues`, its kind among
    `kinds`, and its pool (if it has one) among `pools`; None leaves that side open."""
    sql = ""
    args: tuple[str, ...] = ()
    for column, among in (("queue", queues), ("kind", kinds)):
        if among is not None:
            sql += f" AND {column} IN ({', '.join('?' for _ in among)})" if among else " AND 0"
            args += tuple(among)
    if pools is not None:
        listed = f" OR pool IN ({', '.join('?' for _ in pools)})" if pools else ""
        sql += f" AND (pool IS NULL{listed})"
        args += tuple(pools)
    return sql, args
