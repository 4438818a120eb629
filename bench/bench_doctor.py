"""`qrun doctor` at scale (issue 29): the checks as the database answers them
(`Examinable.suspects`) against the read of every open job they replace, on SQLite and
PostgreSQL, with N jobs (default 1M: 90% done, 10% queued, and a few that need care),
in one run. Both must report the same findings.

    bash bench/run-doctor [--jobs N] [--rounds R]

The rows are copies of jobs written through the store (a done one, a queued one), made
in SQL, so they have exactly the shape a store writes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from systems.pg_common import fresh_database

from qrun.adapters.postgres import PostgresStore
from qrun.adapters.sql.codec import COLUMNS
from qrun.adapters.sqlite import SqliteStore
from qrun.bootstrap import doctor
from qrun.core import ClaimRequest, Decision, Failed, Finished, Handle, Job, Lease, Policy, Spawned, decide
from qrun.core.ports import Applied, JobStore

POLICY = Policy()
NOW = datetime.now(UTC)


def templates(store: JobStore) -> None:
    """A done job, a queued one, and the few that need care: a failed parent with a
    waiting child, a running job whose lease ended, a queued row holding a lease."""
    store.submit(
        [
            Job.new(id="t-parent", kind="noop", now=NOW, max_attempts=1, priority=9),
            Job.new(id="t-leased", kind="noop", now=NOW, priority=8),
            Job.new(id="t-child", kind="noop", now=NOW, depends_on=("t-parent",)),
            Job.new(id="t-done", kind="noop", now=NOW),
            Job.new(id="t-queued", kind="noop", now=NOW),
            Job.new(id="t-queued-broken", kind="noop", now=NOW, priority=-1),
        ]
    )

    def claim(n: int) -> list[Job]:
        until = NOW + timedelta(seconds=5)
        return [
            d.job for d in store.claim(ClaimRequest("w", limit=n, now=NOW, lease_until=until, policy=POLICY))
        ]

    def end(job: Job, event: Failed | Finished) -> None:
        started = store.apply(decide(job, Spawned(Handle("bench", job.id)), NOW, POLICY).unwrap())
        assert isinstance(started, Applied)
        store.apply(decide(started.job, event, NOW, POLICY).unwrap())

    parent, leased = claim(2)  # by priority; the lease of t-leased ends before `now`
    assert (parent.id, leased.id) == ("t-parent", "t-leased")
    end(parent, Failed("boom", final=True))
    (done,) = claim(1)
    assert done.id == "t-done"
    end(done, Finished(None))
    broken = store.get("t-queued-broken")
    assert broken is not None
    store.apply(Decision(broken.evolve(lease=Lease("ghost", NOW), version=broken.version + 1)))


def copy_sql(table: str, series: str, source: str, prefix: str) -> str:
    """`source`'s row copied once per `n` of `series`, as id PREFIX-n."""
    values = ", ".join(
        f"'{prefix}' || n" if c == "id" else "NULL" if c == "unique_slot" else c for c in COLUMNS
    )
    cols = ", ".join(COLUMNS)
    return f"INSERT INTO {table} ({cols}) SELECT {values} FROM {table}, {series} WHERE id = '{source}'"


def fill(kind: str, execute: Callable[[str], object], table: str, jobs: int) -> None:
    for source, prefix, n in (("t-done", "d-", jobs * 9 // 10), ("t-queued", "q-", jobs // 10)):
        if kind == "postgres":
            series = f"generate_series(1, {n}) AS g(n)"
        else:
            numbers = f"WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {n})"
            series = f"({numbers} SELECT n FROM g)"
        execute(copy_sql(table, series, source, prefix))


def full_read(store: JobStore, now: datetime) -> list[doctor.Finding]:
    """The doctor before issue 29: every queued and running job read and judged."""

    class Plain:  # the store without Examinable
        def __getattr__(self, name):
            if name == "suspects":
                raise AttributeError(name)
            return getattr(store, name)

    return doctor.examine(Plain(), now)  # type: ignore[arg-type]


def timed(fn) -> tuple[float, object]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    now = NOW + timedelta(minutes=1)
    folder = Path(tempfile.mkdtemp(prefix="qrun-bench-doctor-"))
    SqliteStore.migrate(folder / "q.db")
    sqlite = SqliteStore(folder / "q.db")
    url = fresh_database("bench_doctor")
    PostgresStore.migrate(url)
    pg = PostgresStore(url)
    import sqlite3

    import psycopg

    for name, store in (("sqlite", sqlite), ("postgres", pg)):
        templates(store)
        if name == "sqlite":
            with sqlite3.connect(folder / "q.db") as c:
                fill(name, c.execute, "qrun_jobs", args.jobs)
                c.execute("ANALYZE")
        else:
            with psycopg.connect(url, autocommit=True) as c:
                fill(name, c.execute, "qrun.jobs", args.jobs)
                c.execute("ANALYZE qrun.jobs")
        total = sum(store.counts().values())
        queries, reads = [], []
        for _ in range(args.rounds):
            q_s, q_found = timed(lambda s=store: doctor.examine(s, now))
            r_s, r_found = timed(lambda s=store: full_read(s, now))
            assert sorted(map(str, q_found)) == sorted(map(str, r_found)), (q_found, r_found)  # type: ignore[arg-type]
            queries.append(q_s)
            reads.append(r_s)
        q, r = statistics.median(queries), statistics.median(reads)
        print(
            f"{name:8} {total:>9,} jobs, {len(q_found)} findings: doctor {q:.2f}s "  # type: ignore[arg-type]
            f"(the full read of open jobs {r:.2f}s; {q / r:.3f} of it)"
        )
    sqlite.close()
    pg.close()


if __name__ == "__main__":
    main()
