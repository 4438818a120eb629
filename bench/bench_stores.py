"""Store throughput against the peers, every system on the same server in ONE run.

    bash bench/run [--jobs N] [--only NAME,...]

PostgreSQL: a raw-SQL baseline (minimal claim-then-complete loop in plain psycopg, one
job per transaction), qrun's PostgresStore, procrastinate and pgqueuer. SQLite: qrun's
SqliteStore and huey's SqliteStorage. For each: submit (one per transaction, and in
batches) and claim+complete with 1 and 8 worker processes, each worker holding one job at
a time. Workers connect first and are released together; the clock runs from the release
to the last worker's exit. Prints jobs/s and the ratios to the baseline and the peers.
"""

from __future__ import annotations

import argparse
import importlib
import multiprocessing as mp
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

PG = ["raw_pg", "qrun_pg", "procrastinate_pg", "pgqueuer_pg"]
SQLITE = ["qrun_sqlite", "huey_sqlite"]


def _worker(module: str, state: dict, name: str, ready, go, out) -> None:
    system = importlib.import_module(f"systems.{module}").System()
    system.__dict__.update(state)
    done = system.worker(name, ready.release, go.wait)
    out.put(done)


def drain(module: str, system, workers: int, jobs: int, batch: int) -> float:
    system.setup()
    system.submit_batch(jobs, batch)
    ctx = mp.get_context("spawn")
    ready, go, out = ctx.Semaphore(0), ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(module, dict(system.__dict__), f"w{i}", ready, go, out))
        for i in range(workers)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        ready.acquire()
    start = time.perf_counter()
    go.set()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - start
    left = system.remaining()
    if left or any(p.exitcode for p in procs):
        raise RuntimeError(f"{module}: {left} jobs left, exit codes {[p.exitcode for p in procs]}")
    return jobs / elapsed


def timed(fn, n: int) -> float:
    start = time.perf_counter()
    fn()
    return n / (time.perf_counter() - start)


def measure(module: str, args) -> dict[str, float]:
    mod = importlib.import_module(f"systems.{module}")
    system = mod.System()
    row: dict[str, float] = {}
    system.setup()
    row["submit 1/tx"] = timed(lambda: system.submit_one(args.single), args.single)
    system.setup()
    row[f"submit batch {args.batch}"] = timed(lambda: system.submit_batch(args.jobs, args.batch), args.jobs)
    for w in args.workers:
        row[f"claim+complete {w}w"] = drain(module, system, w, args.jobs, args.batch)
        print(f"  {mod.NAME}: {w} workers {row[f'claim+complete {w}w']:,.0f} jobs/s", file=sys.stderr)
    return row


def table(
    title: str, results: dict[str, dict[str, float]], base: str, peers: list[str], subject: str
) -> None:
    names = {m: importlib.import_module(f"systems.{m}").NAME for m in results}
    cols = list(next(iter(results.values())))
    print(f"\n## {title} (jobs/s; higher is better)\n")
    print("| system | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for m, row in results.items():
        print(f"| {names[m]} | " + " | ".join(f"{row[c]:,.0f}" for c in cols) + " |")
    if subject in results:
        print()
        for ref in [base, *peers]:
            if ref in results and ref != subject:
                ratios = " | ".join(f"{results[subject][c] / results[ref][c]:.2f}x" for c in cols)
                print(f"| {names[subject]} / {names[ref]} | {ratios} |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--single", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 8])
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    chosen = set(args.only.split(",")) if args.only else set(PG + SQLITE)
    pg = {m: measure(m, args) for m in PG if m in chosen}
    lite = {m: measure(m, args) for m in SQLITE if m in chosen}
    if pg:
        table("PostgreSQL", pg, "raw_pg", ["procrastinate_pg", "pgqueuer_pg"], "qrun_pg")
    if lite:
        table("SQLite", lite, "huey_sqlite", [], "qrun_sqlite")


if __name__ == "__main__":
    main()
