"""Do large payloads slow the claim path of other jobs? Claim+complete throughput of small
jobs (claims of up to 32 at a time, finishes written as one batch, as the worker does) on
a store that also holds N jobs with payloads at the 1 MiB limit (half waiting in a paused
queue, half finished), against the same store without them. Measured in alternating
rounds in one run, on SQLite (a file, synchronous=FULL) and on PostgreSQL.

    bash bench/run-payloads [--big N] [--jobs K] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parent))

from qrun.adapters.ids import new_id
from qrun.adapters.postgres import PostgresStore
from qrun.adapters.sqlite import SqliteStore
from qrun.core import Finished, Job, Policy, decide
from qrun.core.ports import JobStore
from systems.pg_common import fresh_database

POLICY = Policy()


def payload(size: int) -> dict[str, str]:
    """Random hex: it does not compress, as PostgreSQL would compress a repeated byte."""
    return {"blob": os.urandom(size // 2).hex()}


def fill(store: JobStore, big: int, size: int) -> None:
    """`big` jobs with `size`-byte payloads: half queued in a paused queue, half run to done."""
    now = datetime.now(UTC)
    store.pause("bulk")
    for _ in range(big // 2):
        store.submit([Job.new(id=new_id(), kind="noop", queue="bulk", payload=payload(size), now=now)])
    done = [
        Job.new(id=new_id(), kind="noop", queue="old", payload=payload(size), now=now)
        for _ in range(big - big // 2)
    ]
    for job in done:
        store.submit([job])
        (claimed,) = store.claim(
            "w", limit=1, now=now, lease_until=now + timedelta(seconds=60), policy=POLICY
        )
        store.apply(decide(claimed.job, Finished(None), now, POLICY).unwrap())


def drain_rate(store: JobStore, jobs: int) -> float:
    now = datetime.now(UTC)
    for i in range(0, jobs, 500):
        store.submit([Job.new(id=new_id(), kind="noop", now=now) for _ in range(min(500, jobs - i))])
    start, done = perf_counter(), 0
    while True:
        now = datetime.now(UTC)
        claimed = store.claim("w", limit=32, now=now, lease_until=now + timedelta(seconds=60), policy=POLICY)
        if not claimed:
            break
        store.apply_many([decide(d.job, Finished(None), datetime.now(UTC), POLICY).unwrap() for d in claimed])
        done += len(claimed)
    elapsed = perf_counter() - start
    assert done == jobs, (done, jobs)
    return jobs / elapsed


def compare(name: str, make: Callable[[str], JobStore], args: argparse.Namespace) -> None:
    plain, heavy = make("plain"), make("heavy")
    start = perf_counter()
    fill(heavy, args.big, args.size)
    print(
        f"{name}: {args.big} jobs of {args.size:,} bytes written in {perf_counter() - start:.1f}s",
        file=sys.stderr,
    )
    rates: dict[str, list[float]] = {"plain": [], "heavy": []}
    for _ in range(args.rounds):
        rates["plain"].append(drain_rate(plain, args.jobs))
        rates["heavy"].append(drain_rate(heavy, args.jobs))
    p, h = statistics.median(rates["plain"]), statistics.median(rates["heavy"])
    print(f"| {name} | {p:,.0f} | {h:,.0f} | {h / p:.3f} |")
    for store in (plain, heavy):
        store.close()  # type: ignore[attr-defined]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big", type=int, default=200)
    parser.add_argument(
        "--size", type=int, default=1024 * 1024 - 64, help="payload bytes (default: the limit)"
    )
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="qrun-bench-payloads-"))
    print("| store | small jobs/s, store without them | with them | ratio |")
    print("|---|---|---|---|")

    def sqlite(tag: str) -> JobStore:
        SqliteStore.migrate(folder / f"{tag}.db")
        return SqliteStore(folder / f"{tag}.db")

    def postgres(tag: str) -> JobStore:
        url = fresh_database(f"bench_payloads_{tag}")
        PostgresStore.migrate(url)
        return PostgresStore(url, max_size=2)

    compare("SQLite", sqlite, args)
    compare("PostgreSQL", postgres, args)


if __name__ == "__main__":
    main()
