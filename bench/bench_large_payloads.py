"""Do large payloads slow the claim path of other jobs? Throughput of no-op python tasks
drained by qrun's own worker (`app.serve(burst=True)` at the default settings, as a
daemon runs them) on a database that also holds N jobs with payloads at the 1 MiB limit
(half waiting in a paused queue, half finished), against the same without them.
Measured in alternating rounds in one run, on SQLite (a file, synchronous=FULL) and on
PostgreSQL.

    bash bench/run-payloads [--big N] [--jobs K] [--rounds R]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from time import perf_counter

sys.path.insert(0, str(Path(__file__).resolve().parent))

from systems.pg_common import fresh_database

from qrun.adapters.ids import new_id
from qrun.bootstrap.app import App
from qrun.bootstrap.config import load
from qrun.bootstrap.wiring import bootstrap, migrate
from qrun.core import Finished, Job, Policy, Status, decide
from qrun.core.ports import JobStore

POLICY = Policy()


def payload(size: int) -> dict[str, str]:
    """Random hex: it does not compress, as PostgreSQL would compress a repeated byte."""
    return {"blob": os.urandom(size // 2).hex()}


def fill(store: JobStore, big: int, size: int) -> None:
    """`big` jobs with `size`-byte payloads: half queued in a paused queue, half run to done."""
    from qrun.core import ClaimRequest  # here: bench_versions imports this module on older checkouts

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
            ClaimRequest("w", limit=1, now=now, lease_until=now + timedelta(seconds=60), policy=POLICY)
        )
        store.apply(decide(claimed.job, Finished(None), now, POLICY).unwrap())


def app_on(database: dict[str, str], runs: Path) -> App:
    """A qrun app on `database` with one no-op task, at the default settings."""
    app = bootstrap(load(env={}, http_port=0, runs_dir=str(runs), **database))

    @app.task()
    def noop() -> None:
        return None

    return app


def drain_rate(database: dict[str, str], runs: Path, jobs: int) -> float:
    """`jobs` no-op tasks submitted, then drained by qrun's own worker (`serve` in burst
    mode, as a daemon runs them): jobs per second from the start of `serve` to its end."""
    app = app_on(database, runs)
    for i in range(0, jobs, 500):
        app.submit_batch([{"kind": "noop"} for _ in range(min(500, jobs - i))])
    start = perf_counter()
    app.serve(handle_signals=False, burst=True)
    elapsed = perf_counter() - start
    left = app.store.counts().get(("default", Status.QUEUED), 0)
    app.store.close()  # type: ignore[attr-defined]
    assert left == 0, f"{left} jobs left queued"
    return jobs / elapsed


def compare(
    name: str, plain: dict[str, str], heavy: dict[str, str], runs: Path, args: argparse.Namespace
) -> None:
    start = perf_counter()
    filler = app_on(heavy, runs)
    fill(filler.store, args.big, args.size)
    filler.store.close()  # type: ignore[attr-defined]
    print(
        f"{name}: {args.big} jobs of {args.size:,} bytes written in {perf_counter() - start:.1f}s",
        file=sys.stderr,
    )
    rates: dict[str, list[float]] = {"plain": [], "heavy": []}
    for _ in range(args.rounds):
        rates["plain"].append(drain_rate(plain, runs, args.jobs))
        rates["heavy"].append(drain_rate(heavy, runs, args.jobs))
    p, h = statistics.median(rates["plain"]), statistics.median(rates["heavy"])
    print(f"| {name} | {p:,.0f} | {h:,.0f} | {h / p:.3f} |")


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

    def sqlite(tag: str) -> dict[str, str]:
        return {"database_url": str(folder / f"{tag}.db")}

    def postgres(tag: str) -> dict[str, str]:
        return {"database_url": fresh_database(f"bench_payloads_{tag}")}

    for name, make in (("SQLite", sqlite), ("PostgreSQL", postgres)):
        plain, heavy = make("plain"), make("heavy")
        for database in (plain, heavy):
            migrate(load(env={}, **database))
        compare(name, plain, heavy, folder / "runs", args)


if __name__ == "__main__":
    main()
