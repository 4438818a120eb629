"""Does claim cost stay flat as finished jobs pile up? Claim+complete throughput of
qrun's PostgreSQL store on a table holding only the work, against the same with N
finished jobs beside it (default 1M), measured in alternating rounds in one run.

    bash bench/run-scale [--finished N] [--jobs K] [--rounds R]

The finished rows are generated in SQL (generate_series) with the shape a done job has.
No ANALYZE is run: the claim plan must not depend on fresh statistics.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent))

from systems.pg_common import fresh_database

from qrun.adapters.ids import new_id
from qrun.adapters.postgres import PostgresStore
from qrun.core import ClaimRequest, Finished, Job, Policy, decide

POLICY = Policy()

FILL = """
INSERT INTO qrun.jobs (id, kind, queue, payload, status, priority, attempts, max_attempts,
    transient_attempts, requested_at, available_at, started_at, finished_at, run_id, run_epoch,
    handle_runner, handle_ref, exit_code, exit_recorded_at, concurrency_key, concurrency_limit,
    depends_on, orphan_policy, cancel_requested, result, adoptions, version)
SELECT 'done-' || g, 'noop', 'default', '{}', 'done', 0, 1, 3, 0,
    now() - interval '1 day', now() - interval '1 day', now() - interval '1 day', now() - interval '1 day',
    'done-' || g || '/2', 1, 'subprocess', '1:1', 0, now() - interval '1 day', NULL, 1,
    '[]', 'adopt', false, 'null', 0, 4
FROM generate_series(1, %s) AS g
"""


def drain_rate(url: str, jobs: int) -> float:
    store = PostgresStore(url, max_size=1)
    now = datetime.now(UTC)
    store.submit([Job.new(id=new_id(), kind="noop", now=now) for _ in range(jobs)])
    start = time.perf_counter()
    done = 0
    while True:
        now = datetime.now(UTC)
        claimed = store.claim(
            ClaimRequest("w", limit=1, now=now, lease_until=now + timedelta(seconds=60), policy=POLICY)
        )
        if not claimed:
            break
        store.apply(decide(claimed[0].job, Finished(None), datetime.now(UTC), POLICY).unwrap())
        done += 1
    elapsed = time.perf_counter() - start
    store.close()
    assert done == jobs
    return jobs / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--finished", type=int, default=1_000_000)
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--drop-index", default="", help="to isolate one index's share of the cost")
    parser.add_argument("--no-autovacuum", action="store_true", help="to isolate vacuum's share of the cost")
    args = parser.parse_args()
    empty, full = fresh_database("bench_scale_empty"), fresh_database("bench_scale_full")
    for url in (empty, full):
        PostgresStore.migrate(url)
        if args.drop_index:
            with psycopg.connect(url) as conn:
                conn.execute(f"DROP INDEX qrun.{args.drop_index}")
        if args.no_autovacuum:
            with psycopg.connect(url) as conn:
                conn.execute("ALTER TABLE qrun.jobs SET (autovacuum_enabled = false)")
    start = time.perf_counter()
    with psycopg.connect(full) as conn:
        conn.execute(FILL, (args.finished,))
    print(f"filled {args.finished:,} finished jobs in {time.perf_counter() - start:.1f}s", file=sys.stderr)
    rates: dict[str, list[float]] = {"empty": [], "full": []}
    for _ in range(args.rounds):
        for name, url in (("empty", empty), ("full", full)):
            rates[name].append(drain_rate(url, args.jobs))
    e, f = statistics.median(rates["empty"]), statistics.median(rates["full"])
    print("| table | claim+complete jobs/s (median of rounds) |")
    print("|---|---|")
    print(f"| only the {args.jobs:,} jobs being claimed | {e:,.0f} |")
    print(f"| plus {args.finished:,} finished jobs | {f:,.0f} |")
    print(f"\nratio full / empty: {f / e:.3f} (rounds: empty {rates['empty']}, full {rates['full']})")


if __name__ == "__main__":
    main()
