"""What a change costs users: qrun at two checkouts, end to end through its own worker.

    python bench/bench_versions.py --before /path/to/python --after /path/to/python \
        [--jobs N] [--rounds R] [--stores sqlite,postgres]

Each interpreter has its own checkout of qrun installed. Every drain runs in a fresh
process and a fresh database of that checkout's schema: N no-op `@app.task()` jobs,
submitted, then drained by `app.serve(burst=True)` at the default settings, as a daemon
runs them (the drain of bench_large_payloads.py). Rounds alternate the two checkouts,
so a noisy machine slows both alike; the figure is after/before of the medians.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

_ONE = """
import json, sys
from pathlib import Path
sys.path.insert(0, {here!r})
from bench_large_payloads import drain_rate
from qrun.bootstrap.config import load
from qrun.bootstrap.wiring import migrate
from systems.pg_common import fresh_database
store, jobs, folder, tag = sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
if store == "sqlite":
    database = {{"database_url": str(folder / (tag + ".db"))}}
else:
    database = {{"database_url": fresh_database("bench_versions_" + tag)}}
migrate(load(env={{}}, **database))
print(json.dumps(drain_rate(database, folder / "runs", jobs)))
"""


def drain(python: str, store: str, jobs: int, folder: Path, tag: str) -> float:
    out = subprocess.run(
        [python, "-c", _ONE.format(here=str(HERE)), store, str(jobs), str(folder), tag],
        check=True,
        capture_output=True,
        text=True,
    )
    return float(json.loads(out.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True, help="python of the baseline checkout")
    parser.add_argument("--after", required=True, help="python of the changed checkout")
    parser.add_argument("--jobs", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--stores", default="sqlite,postgres")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="qrun-bench-versions-"))
    print("| store | before jobs/s | after jobs/s | after/before |")
    print("|---|---|---|---|")
    for store in args.stores.split(","):
        rates: dict[str, list[float]] = {"before": [], "after": []}
        for r in range(args.rounds):
            for side in ("before", "after") if r % 2 == 0 else ("after", "before"):
                rates[side].append(drain(getattr(args, side), store, args.jobs, folder, f"{side}{r}"))
        b, a = statistics.median(rates["before"]), statistics.median(rates["after"])
        print(f"| {store} | {b:,.0f} | {a:,.0f} | {a / b:.3f} |", flush=True)
        print(f"{store}: {json.dumps(rates)}", file=sys.stderr)


if __name__ == "__main__":
    main()
