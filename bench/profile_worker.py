"""Where one qrun daemon's time goes: cProfile around `app.serve(burst=True)` draining N
no-op python tasks, on the PostgreSQL server on 127.0.0.1:5432 (or QRUN_BENCH_SERVER)
or a SQLite file.

    bench/.venv/bin/python bench/profile_worker.py [--backend postgres|sqlite] [--jobs N] [--slots S]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from systems.qrun_worker import System


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backend", default="postgres", choices=["postgres", "sqlite"])
    parser.add_argument("--jobs", type=int, default=5000)
    parser.add_argument("--slots", type=int, default=None)
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    system = System(backend=args.backend, **({"slots": args.slots} if args.slots else {}))
    system.setup()
    system.load(args.jobs)
    profile = cProfile.Profile()
    start = time.perf_counter()
    profile.runcall(system.worker, 0, lambda: None, lambda: None)
    elapsed = time.perf_counter() - start
    print(f"{args.jobs} jobs in {elapsed:.2f}s under the profiler ({args.jobs / elapsed:,.0f} jobs/s)")
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
