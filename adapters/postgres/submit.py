"""Submitting jobs to PostgreSQL, written once as steps and carried out on a sync cursor
or an async one: a caller's transaction (R-F5) may be either, and both submit alike.

`Submission.steps` yields what to run (a `Query`, or an `Insert` of rows) and is sent
each answer; `run` and `run_async` are the two drivers. The rules (duplicate ids, unique
keys resolved to their holder as `core.submission` resolves them, unknown dependencies)
live in the steps only."""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Mapping, Sequence
from typing import Any

import attrs
import psycopg

from qrun.core import Job, Status
from qrun.core.dependents import at_submit
from qrun.core.ports import DuplicateJob, StoreError, UnknownDependency
from qrun.core.submission import duplicates, remap

from ..sql.codec import COLUMNS

_COLS = ", ".join(COLUMNS)
_MARKS = ", ".join("%s" for _ in COLUMNS)
COPY_FROM = 64  # batches at least this big are written with COPY
_DUP = re.compile(r"\(id\)=\((.*)\)")


@attrs.frozen
class Query:
    sql: str
    args: Sequence[Any] = ()


@attrs.frozen
class Insert:
    """`jobs` as rows (COPY for a big batch), then the dependency rows `deps`."""

    jobs: Sequence[Job]
    deps: Sequence[tuple[str, str]]


SubmitStep = Query | Insert
SubmitSteps = Generator[SubmitStep, Any, list[str]]


@attrs.frozen
class Submission:
    jobs: str  # the tables, schema-qualified
    deps: str
    schema: str
    channel: str  # NOTIFY'd once the jobs are in
    row: Callable[[Job], Sequence[Any]]
    copy_row: Callable[[Job], Sequence[Any]]

    def steps(self, jobs: Sequence[Job]) -> SubmitSteps:
        """Insert `jobs`, all or none (the driver's transaction or savepoint); returns one
        id per job: its own, or the holder's for a job whose unique key is held."""
        ids = [j.id for j in jobs]
        if len(set(ids)) != len(ids):
            dups = sorted({i for i in ids if ids.count(i) > 1})
            raise DuplicateJob(f"job ids {', '.join(dups)} appear twice in the batch")
        if any(j.unique is not None for j in jobs):
            return (yield from self._unique(jobs))
        outside = sorted({d for j in jobs for d in j.depends_on} - set(ids))
        ended = yield from self._statuses(outside)
        # Insert before refusing an unknown dependency: a duplicate id is reported first,
        # as every store does; either error undoes the whole batch.
        yield Insert(at_submit(jobs, ended.get), [(j.id, d) for j in jobs for d in j.depends_on])
        self._known(outside, ended)
        yield Query("SELECT pg_notify(%s, '')", (self.channel,))
        return ids

    def _unique(self, jobs: Sequence[Job]) -> SubmitSteps:
        """A batch with unique keys (R-F1): each keyed job is inserted with `ON CONFLICT DO
        NOTHING`, so the database decides who holds a key among concurrent submitters; a
        job that lost resolves to the holder (`core.submission`, the same answers)."""
        # Submitters of overlapping keys in different orders would deadlock on each
        # other's uncommitted index entries: take the keys' locks in one order.
        slots = sorted({j.unique_slot for j in jobs if j.unique_slot is not None})
        yield Query(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s || s, 0)) FROM unnest(%s::text[]) AS s",
            (f"qrun-unique:{self.schema}:", slots),
        )
        ids: list[str] = []
        replaced: dict[str, str] = {}
        inserted: list[Job] = []
        plain: list[Job] = []
        for submitted in jobs:
            job = remap(submitted, replaced)
            holder = (yield from self._insert_keyed(job)) if job.unique_slot is not None else None
            if holder is not None:
                replaced[job.id] = holder
                ids.append(holder)
                continue
            (inserted if job.unique_slot is not None else plain).append(job)
            ids.append(job.id)
        dups = duplicates([*inserted, *plain])
        if dups:
            raise DuplicateJob(f"job ids {', '.join(dups)} appear twice in the batch")
        fresh = [*inserted, *plain]
        deps = [(j.id, d) for j in fresh for d in j.depends_on]
        outside = sorted({d for _, d in deps} - {j.id for j in fresh})
        ended = yield from self._statuses(outside)
        born = {j.id: j for j in at_submit(fresh, ended.get) if j.status is not Status.QUEUED}
        for job in born.values():
            if job.id in {i.id for i in inserted}:  # inserted already, to take its key: now its end
                yield Query(
                    f"UPDATE {self.jobs} SET ({_COLS}) = ({_MARKS}) WHERE id = %s", (*self.row(job), job.id)
                )
        yield Insert([born.get(j.id, j) for j in plain], deps)
        self._known(outside, ended)
        if fresh:
            yield Query("SELECT pg_notify(%s, '')", (self.channel,))
        return ids

    def _insert_keyed(self, job: Job) -> Generator[SubmitStep, Any, str | None]:
        """Insert `job`, or return the id of the job holding its unique slot."""
        for _ in range(100):
            # No conflict target: a clash on the id or the slot does nothing (and aborts
            # nothing); the reads below say which it was.
            rows = yield Query(
                f"INSERT INTO {self.jobs} ({_COLS}) VALUES ({_MARKS}) ON CONFLICT DO NOTHING RETURNING id",
                self.row(job),
            )
            if rows:
                return None
            held = yield Query(f"SELECT id FROM {self.jobs} WHERE unique_slot = %s", (job.unique_slot,))
            if held:
                return str(held[0][0])
            if (yield from self._existing([job.id])):
                raise DuplicateJob(f"job id {job.id} exists already; submit it under a new id")
            # The holder left the slot between the two statements: try again.
        raise StoreError(f"unique key of job {job.id} kept changing hands; submit it again")

    def _statuses(self, ids: Sequence[str]) -> Generator[SubmitStep, Any, dict[str, Status]]:
        """The status of each stored job of `ids`, its row share-locked to commit: a
        dependency cannot end between this read and the insert of its dependents unseen
        (its end waits for this commit, then finds them)."""
        if not ids:
            return {}
        rows = yield Query(
            f"SELECT id, status FROM {self.jobs} WHERE id = ANY(%s) ORDER BY id FOR SHARE", (list(ids),)
        )
        return {r[0]: Status(r[1]) for r in rows}

    @staticmethod
    def _known(deps: Sequence[str], stored: Mapping[str, Status]) -> None:
        missing = set(deps) - set(stored)
        if missing:
            raise UnknownDependency(
                f"job(s) depend on unknown job(s) {', '.join(sorted(missing))}; "
                "submit those first or in the same batch"
            )

    def _existing(self, ids: Sequence[str]) -> Generator[SubmitStep, Any, set[str]]:
        if not ids:
            return set()
        rows = yield Query(f"SELECT id FROM {self.jobs} WHERE id = ANY(%s)", (list(ids),))
        return {r[0] for r in rows}

    # -- the drivers ---------------------------------------------------------------------
    def run(self, cur: psycopg.Cursor[Any], steps: SubmitSteps) -> list[str]:
        reply: Any = None
        try:
            while True:
                step = steps.send(reply)
                if isinstance(step, Query):
                    cur.execute(step.sql, step.args)
                    reply = cur.fetchall() if cur.description else []
                    continue
                if len(step.jobs) >= COPY_FROM:
                    with cur.copy(f"COPY {self.jobs} ({_COLS}) FROM STDIN") as copy:
                        for job in step.jobs:
                            copy.write_row(self.copy_row(job))
                elif step.jobs:
                    cur.executemany(self._insert_sql(), [self.row(j) for j in step.jobs])
                if step.deps:
                    cur.executemany(self._deps_sql(), step.deps)
                reply = None
        except StopIteration as done:
            return list(done.value)
        except psycopg.errors.UniqueViolation as exc:
            raise duplicate(exc) from exc

    async def run_async(self, cur: psycopg.AsyncCursor[Any], steps: SubmitSteps) -> list[str]:
        reply: Any = None
        try:
            while True:
                step = steps.send(reply)
                if isinstance(step, Query):
                    await cur.execute(step.sql, step.args)
                    reply = await cur.fetchall() if cur.description else []
                    continue
                if len(step.jobs) >= COPY_FROM:
                    async with cur.copy(f"COPY {self.jobs} ({_COLS}) FROM STDIN") as copy:
                        for job in step.jobs:
                            await copy.write_row(self.copy_row(job))
                elif step.jobs:
                    await cur.executemany(self._insert_sql(), [self.row(j) for j in step.jobs])
                if step.deps:
                    await cur.executemany(self._deps_sql(), step.deps)
                reply = None
        except StopIteration as done:
            return list(done.value)
        except psycopg.errors.UniqueViolation as exc:
            raise duplicate(exc) from exc

    def _insert_sql(self) -> str:
        return f"INSERT INTO {self.jobs} ({_COLS}) VALUES ({_MARKS})"

    def _deps_sql(self) -> str:
        return f"INSERT INTO {self.deps} (job_id, dep_id) VALUES (%s, %s)"


def duplicate(exc: psycopg.errors.UniqueViolation) -> DuplicateJob:
    found = _DUP.search(str(exc))
    return DuplicateJob(f"job id {found.group(1) if found else '?'} exists already; submit it under a new id")
