"""What a command job costs: N `true` commands run by qrun's own worker at the default
settings (submitted as one batch, drained by `app.serve(burst=True)` as a daemon runs
them, each through its monitor, R-A6), against a plain `subprocess.run(["true"])` loop
in the same run. Rounds alternate the two, so a noisy machine slows both alike.

    python bench/bench_commands.py [--jobs N] [--rounds R] [--store sqlite|postgres]
        [--monitors native,python] [--dir FOLDER]

The figure is qrun's rate over the loop's (issue 31's target: at least 0.25).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def loop_rate(jobs: int) -> float:
    started = time.perf_counter()
    for _ in range(jobs):
        subprocess.run(["true"], check=True)
    return jobs / (time.perf_counter() - started)


def qrun_rate(
    jobs: int, folder: Path, database: dict[str, str], monitor: str | None
) -> tuple[float, tuple[float, float]]:
    """Commands a second, and the CPU seconds per command of the daemon and of its
    monitors and their commands."""
    from qrun.bootstrap.config import load
    from qrun.bootstrap.wiring import bootstrap, migrate

    chosen = {"command_monitor": monitor} if monitor else {}
    runs = folder / f"runs-{monitor}"
    config = load(
        env={}, runs_dir=str(runs), inputs_dir=str(folder / "inputs"), http_port=0, **database, **chosen
    )
    migrate(config)
    app = bootstrap(config)
    if monitor:  # built once per runs folder and kept, as a daemon restarted on it finds it
        from qrun.adapters.runners.subprocess_runner import SubprocessRunner

        SubprocessRunner(runs, monitor=monitor).monitor_command()
    app.submit_batch([{"kind": "command", "payload": {"argv": ["true"]}} for _ in range(jobs)])
    started, cpu, kids = time.perf_counter(), time.process_time(), _children_cpu()
    app.serve(threading.Event(), handle_signals=False, burst=True)
    took = time.perf_counter() - started
    used = ((time.process_time() - cpu) / jobs, (_children_cpu() - kids) / jobs)
    done = sum(n for (_, status), n in app.store.counts().items() if status.value == "done")
    app.close()
    if done != jobs:
        raise SystemExit(f"only {done} of {jobs} commands ended done")
    return jobs / took, used


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument(
        "--monitors",
        default="native,python",
        help="command_monitor settings to run, comma-separated ('' for a checkout without the setting)",
    )
    parser.add_argument(
        "--dir", default=None, help="where the runs folders go (default: the system's temporary folder)"
    )
    args = parser.parse_args()
    monitors = [m or None for m in args.monitors.split(",")]
    qrun: dict[str | None, list[float]] = {m: [] for m in monitors}
    cpu: dict[str | None, list[tuple[float, float]]] = {m: [] for m in monitors}
    loop: list[float] = []
    for r in range(args.rounds):
        with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
            folder = Path(tmp)
            if args.store == "sqlite":
                database = {"database_url": str(folder / "q.db")}
            else:
                sys.path.insert(0, str(Path(__file__).resolve().parent))
                from systems.pg_common import fresh_database

                database = {"database_url": fresh_database(f"bench_commands_{r}")}
            loop.append(loop_rate(args.jobs))
            for m in monitors:
                if args.store == "sqlite":
                    database = {"database_url": str(folder / f"q-{m}.db")}
                else:
                    database = {"database_url": fresh_database(f"bench_commands_{r}_{m}")}
                rate, used = qrun_rate(args.jobs, folder, database, m)
                qrun[m].append(rate)
                cpu[m].append(used)
    b = statistics.median(loop)
    print("| commands (`true`), monitor | qrun /s | subprocess.run loop /s | ratio |")
    print("|---|---|---|---|")
    for m, rates in qrun.items():
        q = statistics.median(rates)
        where = f"{args.store}, {m or 'default'}, {args.jobs} a round, {args.rounds} rounds"
        print(f"| {where} | {q:,.0f} | {b:,.0f} | {q / b:.3f} |")
    print(f"qrun: { {m: [round(x) for x in v] for m, v in qrun.items()} }, loop: {[round(x) for x in loop]}")
    for m, used in cpu.items():
        daemon, children = (statistics.median(c[i] for c in used) * 1e3 for i in (0, 1))
        print(
            f"CPU a command, {m or 'default'}: daemon {daemon:.2f} ms, monitor and command {children:.2f} ms"
        )


if __name__ == "__main__":
    main()
