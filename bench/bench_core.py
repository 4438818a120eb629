"""Throughput of `decide` and of the memory store, each as a ratio to a baseline measured
in the same run (the machines are shared and noisy; absolute numbers drift, ratios less).

    python bench/bench_core.py [--jobs N]

Baselines:
- decide: `attrs.evolve` of a job with the same fields changed, the floor of any
  immutable transition.
- memory store: a dict and a deque behind one lock doing the same claim-then-finish
  bookkeeping with no rules, the floor of an in-process queue.
"""

from __future__ import annotations

import argparse
import collections
import statistics
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs

from qrun.adapters.memory import MemoryStore
from qrun.core import Claim, ClaimRequest, Finished, Job, Lease, Policy, Spawned, Status, decide
from qrun.core.job import Handle, Run

T0 = datetime(2030, 1, 1, tzinfo=UTC)
P = Policy()


def best_rate(n: int, fn: Callable[[], None], repeats: int = 5) -> float:
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        rates.append(n / (time.perf_counter() - start))
    return statistics.median(rates)


def bench_decide(n: int) -> tuple[float, float]:
    job = Job.new(id="j", kind="k", now=T0)
    running = decide(job, Claim("w", "r", T0 + timedelta(seconds=30)), T0).unwrap().job
    spawned = decide(running, Spawned(Handle("p", "1")), T0).unwrap().job

    def transitions() -> None:
        for _ in range(n // 3):
            decide(job, Claim("w", "r", T0 + timedelta(seconds=30)), T0)
            decide(running, Spawned(Handle("p", "1")), T0)
            decide(spawned, Finished(1), T0)

    def evolve() -> None:
        for _ in range(n // 3):
            attrs.evolve(
                job,
                status=Status.RUNNING,
                attempts=1,
                lease=Lease("w", T0),
                started_at=T0,
                run=Run("r"),
                version=2,
            )
            attrs.evolve(running, run=Run("r", handle=Handle("p", "1")), version=3)
            attrs.evolve(spawned, status=Status.DONE, finished_at=T0, lease=None, result=1, version=4)

    return best_rate(n // 3 * 3, transitions), best_rate(n // 3 * 3, evolve)


def bench_store(n: int) -> dict[str, tuple[float, float]]:
    out: dict[str, tuple[float, float]] = {}
    jobs = [Job.new(id=f"j{i:07d}", kind="k", now=T0) for i in range(n)]

    def submit_batch() -> None:
        MemoryStore().submit(jobs)

    def submit_one() -> None:
        s = MemoryStore()
        for j in jobs:
            s.submit([j])

    def raw_submit() -> None:
        lock, table, queue = threading.Lock(), {}, collections.deque()
        for j in jobs:
            with lock:
                table[j.id] = j
                queue.append(j.id)

    raw = best_rate(n, raw_submit, 3)
    out["submit (one per call)"] = (best_rate(n, submit_one, 3), raw)
    out["submit (batch)"] = (best_rate(n, submit_batch, 3), raw)

    def claim_finish(limit: int) -> Callable[[], None]:
        def run() -> None:
            s = MemoryStore()
            s.submit(jobs)
            lease = T0 + timedelta(seconds=30)
            while claimed := s.claim(ClaimRequest("w", limit=limit, now=T0, lease_until=lease, policy=P)):
                for d in claimed:
                    s.apply(decide(d.job, Finished(None), T0).unwrap())

        return run

    def raw_claim_finish() -> None:
        lock, table, queue = threading.Lock(), {j.id: j for j in jobs}, collections.deque(j.id for j in jobs)
        while True:
            with lock:
                if not queue:
                    break
                job_id = queue.popleft()
                table[job_id] = ("running", "w")
            with lock:
                table[job_id] = ("done", None)

    raw_cf = best_rate(n, raw_claim_finish, 3)
    out["claim+finish (1 per claim)"] = (best_rate(n, claim_finish(1), 3), raw_cf)
    out["claim+finish (batch of 50)"] = (best_rate(n, claim_finish(50), 3), raw_cf)
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--transitions", type=int, default=60_000)
    args = parser.parse_args()
    rows = []
    qrun_rate, base = bench_decide(args.transitions)
    rows.append(("decide (Claim, Spawned, Finished)", qrun_rate, base, "attrs.evolve"))
    for name, (rate, raw) in bench_store(args.jobs).items():
        rows.append((f"memory store {name}", rate, raw, "dict+deque+lock"))
    print(f"{'benchmark':44} {'qrun /s':>12} {'baseline /s':>12} {'ratio':>7}  baseline")
    for name, rate, raw, base_name in rows:
        print(f"{name:44} {rate:12,.0f} {raw:12,.0f} {rate / raw:7.3f}  {base_name}")


if __name__ == "__main__":
    main()
