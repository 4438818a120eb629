"""qrun against its peers, end to end, every system through its own worker, in ONE run.

    bash bench/run [--jobs N] [--reps R] [--only SUBSTRING,...] [--readme]

Method (peers/BENCH-METHOD.md): a throwaway PostgreSQL cluster started here (fsync and
synchronous_commit at their defaults, shared_buffers 256MB, pg_stat_statements), a fresh
database per system. Drain: N no-op jobs are loaded, the worker processes connect and
wait at a barrier, and the clock runs from their release until every one has exited with
the queue empty. Systems are interleaved: repetition 1 of every system, then repetition
2, ...; each figure is the median of the repetitions. Statements per job (from
pg_stat_statements, in that system's database) and WAL syncs per job (pg_stat_wal) are
read around each drain. Latency: one worker process at its defaults, jobs submitted one
at a time at a fixed rate, submit-to-start measured by the task itself.

Prints markdown tables (jobs/s and ratios to baselines of the same run); `--readme`
writes them into README.md between the bench markers.
"""

from __future__ import annotations

import argparse
import importlib
import math
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cluster import throwaway_cluster  # noqa: E402
from systems.pg_common import counters  # noqa: E402

Spec = tuple[str, dict[str, Any]]  # (module in systems/, constructor arguments)

PG_DRAIN: list[Spec] = [
    ("raw_pg", {"per_claim": 1}),
    ("raw_pg", {"per_claim": 10}),
    ("pgqueuer_pg", {"batch_size": 10}),
    ("pgqueuer_pg", {"batch_size": 100}),
    ("procrastinate_pg", {}),
    ("qrun_worker", {"backend": "postgres"}),
    ("qrun_worker", {"backend": "postgres", "slots": 64}),
    ("qrun_store", {"backend": "postgres", "per_claim": 10}),
]
SQLITE_DRAIN: list[Spec] = [
    ("huey_sqlite", {"synchronous": "FULL"}),
    ("qrun_worker", {"backend": "sqlite", "synchronous": "FULL"}),
    ("huey_sqlite", {"synchronous": "NORMAL"}),
    ("qrun_worker", {"backend": "sqlite", "synchronous": "NORMAL"}),
]
COMMANDS: list[Spec] = [
    ("qrun_worker", {"backend": "postgres", "command": True, "slots": 4}),
    ("qrun_worker", {"backend": "postgres", "command": True, "slots": 16}),
]
LATENCY: list[Spec] = [
    ("qrun_worker", {"backend": "postgres"}),
    ("pgqueuer_pg", {"batch_size": 10}),
    ("procrastinate_pg", {}),
]


def make(spec: Spec) -> Any:
    module, kw = spec
    return importlib.import_module(f"systems.{module}").System(**kw)


def _child(spec: Spec, state: dict[str, Any], index: int, ready: Any, go: Any) -> None:
    system = make(spec)
    system.__dict__.update(state)
    log = os.open(
        os.path.join(tempfile.gettempdir(), f"qrun-bench-{os.getpid()}.log"), os.O_WRONLY | os.O_CREAT
    )
    os.dup2(log, 1)  # a system's own logging goes to a file, not into the tables
    os.dup2(log, 2)
    system.worker(index, ready.release, go.wait)


def drain(spec: Spec, processes: int, jobs: int) -> dict[str, float]:
    system = make(spec)
    system.setup()
    system.load(jobs)
    db = getattr(system, "db", None)
    before = counters(db) if db else None
    ctx = mp.get_context("spawn")
    ready, go = ctx.Semaphore(0), ctx.Event()
    procs = [
        ctx.Process(target=_child, args=(spec, dict(system.__dict__), i, ready, go)) for i in range(processes)
    ]
    for p in procs:
        p.start()
    for _ in procs:
        if not ready.acquire(timeout=120):
            raise RuntimeError(f"{system.name}: a worker did not start")
    start = time.perf_counter()
    go.set()
    for p in procs:
        p.join(timeout=1800)
    elapsed = time.perf_counter() - start
    after = counters(db) if db else None
    left = system.remaining()
    if left or any(p.exitcode for p in procs):
        raise RuntimeError(f"{system.name}: {left} jobs left, exit codes {[p.exitcode for p in procs]}")
    out = {"rate": jobs / elapsed}
    if before and after:
        out["statements"] = (after[0] - before[0]) / jobs
        out["syncs"] = (after[1] - before[1]) / jobs
    return out


def _serve(spec: Spec, state: dict[str, Any], path: str, ready: Any) -> None:
    system = make(spec)
    system.__dict__.update(state)
    log = os.open(
        os.path.join(tempfile.gettempdir(), f"qrun-bench-{os.getpid()}.log"), os.O_WRONLY | os.O_CREAT
    )
    os.dup2(log, 1)
    os.dup2(log, 2)
    system.serve_latency(path, ready.release)


def _lines(path: str) -> list[float]:
    try:
        return [float(x) for x in Path(path).read_text().split()]
    except FileNotFoundError:
        return []


def _until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.01)


def latency(spec: Spec, rate: float, seconds: float) -> tuple[float, float]:
    """p50 and p95 of submit-to-start, in milliseconds."""
    system = make(spec)
    system.setup()
    path = tempfile.mktemp(prefix="qrun-bench-latency-")
    ctx = mp.get_context("spawn")
    ready = ctx.Semaphore(0)
    proc = ctx.Process(target=_serve, args=(spec, dict(system.__dict__), path, ready))
    proc.start()
    try:
        ready.acquire(timeout=120)
        submit = system.submitter()
        warm = 5  # the worker's start-up is not latency
        for _ in range(warm):
            submit()
        _until(lambda: len(_lines(path)) >= warm, 120, f"{system.name} warm-up")
        n = int(rate * seconds)
        t0 = time.perf_counter()
        for i in range(n):
            pause = t0 + i / rate - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            submit()
        _until(lambda: len(_lines(path)) >= warm + n, 120, f"{system.name} jobs to start")
    finally:
        proc.terminate()
        proc.join(10)
    seen = sorted(_lines(path)[warm:])
    return statistics.median(seen) * 1000, seen[int(0.95 * (len(seen) - 1))] * 1000


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


class Results:
    def __init__(self) -> None:
        self.rows: dict[str, dict[str, list[float]]] = {}

    def add(self, name: str, column: str, value: float) -> None:
        self.rows.setdefault(name, {}).setdefault(column, []).append(value)

    def get(self, name: str, column: str) -> float:
        return median(self.rows.get(name, {}).get(column, []))


def fmt(value: float, digits: int = 0) -> str:
    return "n/a" if math.isnan(value) else f"{value:,.{digits}f}"


def table(results: Results, names: list[str], columns: list[tuple[str, str, int]]) -> list[str]:
    out = [
        "| system | " + " | ".join(title for _, title, _ in columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for name in names:
        out.append(f"| {name} | " + " | ".join(fmt(results.get(name, c), d) for c, _, d in columns) + " |")
    return out


def ratio_lines(results: Results, subject: str, refs: list[str], columns: list[str]) -> list[str]:
    out = []
    for ref in refs:
        cells = [f"{results.get(subject, c) / results.get(ref, c):.2f}x" for c in columns]
        out.append(f"| {subject} / {ref} | " + " | ".join(cells) + " |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--command-jobs", type=int, default=200)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--processes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 4])
    parser.add_argument("--only", default="", help="comma-separated substrings of system names")
    parser.add_argument("--no-latency", action="store_true")
    parser.add_argument("--readme", action="store_true", help="write the tables into README.md")
    args = parser.parse_args()
    wanted = [w for w in args.only.split(",") if w]

    def chosen(specs: list[Spec]) -> list[Spec]:
        return [s for s in specs if not wanted or any(w in make(s).name for w in wanted)]

    results = Results()
    with throwaway_cluster() as server:
        os.environ["QRUN_BENCH_SERVER"] = server
        for rep in range(args.reps):
            for spec in chosen(PG_DRAIN) + chosen(SQLITE_DRAIN):
                name = make(spec).name
                for p in args.processes:
                    got = drain(spec, p, args.jobs)
                    for key, value in got.items():
                        results.add(name, f"{key} {p}", value)
                    print(
                        f"rep {rep + 1}: {name}, {p} process(es): {got['rate']:,.0f} jobs/s", file=sys.stderr
                    )
            for spec in chosen(COMMANDS):
                name = make(spec).name
                got = drain(spec, 1, args.command_jobs)
                results.add(name, "rate 1", got["rate"])
                print(f"rep {rep + 1}: {name}: {got['rate']:,.1f} jobs/s", file=sys.stderr)
        if not args.no_latency:
            for spec in chosen(LATENCY):
                name = make(spec).name
                for rate, seconds in ((5, 10), (50, 6)):
                    p50, p95 = latency(spec, rate, seconds)
                    results.add(name, f"p50 {rate}", p50)
                    results.add(name, f"p95 {rate}", p95)
                    print(f"{name} at {rate}/s: p50 {p50:.1f} ms, p95 {p95:.1f} ms", file=sys.stderr)
    report(results, args)


def report(results: Results, args: argparse.Namespace) -> None:
    ps = args.processes
    lines = [
        f"One run of `bash bench/run` ({args.jobs:,} no-op jobs per drain, median of {args.reps} interleaved "
        "repetitions, a throwaway PostgreSQL cluster with fsync on; jobs/s, higher is better):",
        "",
    ]
    pg = [make(s).name for s in PG_DRAIN if make(s).name in results.rows]
    cols = [(f"rate {p}", f"{p} process{'es' if p > 1 else ''}", 0) for p in ps]
    cols += [(f"statements {ps[0]}", "statements/job", 2), (f"syncs {ps[0]}", "WAL syncs/job", 3)]
    lines += table(results, pg, cols)
    qrun = "qrun worker, python no-op"
    refs = [n for n in pg if n.startswith(("pgqueuer", "raw SQL"))]
    if qrun in results.rows:
        lines += [
            "",
            "| ratio | " + " | ".join(t for _, t, _ in cols[: len(ps)]) + " |",
            "|---" * (len(ps) + 1) + "|",
        ]
        lines += ratio_lines(results, qrun, refs, [f"rate {p}" for p in ps])
        store = "qrun PostgresStore, 10 per claim"
        if store in results.rows and "raw SQL, 10 per claim" in results.rows:
            lines += ratio_lines(results, store, ["raw SQL, 10 per claim"], [f"rate {p}" for p in ps])
    lite = [make(s).name for s in SQLITE_DRAIN if make(s).name in results.rows]
    if lite:
        lines += ["", "SQLite (a file, WAL):", ""]
        lines += table(results, lite, cols[: len(ps)])
        for sync in ("FULL", "NORMAL"):
            q, h = f"qrun worker, python no-op, synchronous={sync}", f"huey, synchronous={sync}"
            if q in results.rows and h in results.rows:
                lines += ratio_lines(results, q, [h], [f"rate {p}" for p in ps])
    cmd = [make(s).name for s in COMMANDS if make(s).name in results.rows]
    if cmd:
        lines += [
            "",
            f"Commands (`true` through the subprocess runner, {args.command_jobs} jobs, 1 process):",
            "",
        ]
        lines += table(results, cmd, [("rate 1", "jobs/s", 1)])
    lat = [
        make(s).name
        for s in LATENCY
        if make(s).name in results.rows and "p50 5" in results.rows[make(s).name]
    ]
    if lat:
        lines += ["", "Submit-to-start latency, one worker process, jobs submitted one at a time (ms):", ""]
        lines += table(
            results,
            lat,
            [
                ("p50 5", "p50 at 5/s", 1),
                ("p95 5", "p95 at 5/s", 1),
                ("p50 50", "p50 at 50/s", 1),
                ("p95 50", "p95 at 50/s", 1),
            ],
        )
    text = "\n".join(lines)
    print(text)
    if args.readme:
        readme = HERE.parent / "README.md"
        body = readme.read_text()
        start, end = "<!-- bench:start -->", "<!-- bench:end -->"
        head, _, rest = body.partition(start)
        _, _, tail = rest.partition(end)
        readme.write_text(f"{head}{start}\n{text}\n{end}{tail}")


if __name__ == "__main__":
    main()
