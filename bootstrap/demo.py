"""A small demo: submit jobs to the in-memory store and process them with worker threads.

Shows the shape every runtime loop has: claim -> carry out the effects -> record the
outcome through `decide` -> apply (compare-and-set). The daemon (`qrun serve`) is the
full version of this loop.
"""

from __future__ import annotations

import argparse
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from qrun.adapters.memory import MemoryStore
from qrun.core import Decision, Failed, Finished, FollowUp, Job, Policy, Spawn, Spawned, Status, decide
from qrun.core.job import Handle
from qrun.core.ports import Applied, JobStore
from returns.result import Success

POLICY = Policy()


def _square(payload: dict[str, Any]) -> int:
    return int(payload["n"]) ** 2


def _flaky(payload: dict[str, Any]) -> str:
    if random.random() < 0.5:
        raise RuntimeError("flaky task failed; it will be retried with backoff")
    return "ok"


TASKS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "square": _square,
    "flaky": _flaky,
    "report": lambda p: p,
}


def _record(store: JobStore, decision: Decision, event: Any) -> Decision | None:
    """Decide `event` on the job as just written and apply it; None if it lost a race."""
    result = decide(decision.job, event, datetime.now(UTC), POLICY)
    if not isinstance(result, Success):
        return None
    nxt = result.unwrap()
    return nxt if isinstance(store.apply(nxt), Applied) else None


def work(store: JobStore, name: str, stop: threading.Event) -> int:
    done = 0
    while not stop.is_set():
        now = datetime.now(UTC)
        claimed = store.claim(name, limit=2, now=now, lease_until=now + timedelta(seconds=30), policy=POLICY)
        if not claimed:
            time.sleep(0.01)
            continue
        for decision in claimed:
            if not any(isinstance(e, Spawn) for e in decision.external):
                continue
            started = _record(store, decision, Spawned(Handle("thread", name)))
            if started is None:
                continue
            job = started.job
            try:
                outcome: Any = Finished(TASKS[job.kind](dict(job.payload)))
            except Exception as exc:  # the task's failure is the job's outcome
                outcome = Failed(str(exc))
            if _record(store, started, outcome) is not None:
                done += 1
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="qrun in-memory demo")
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args(argv)
    store = MemoryStore()
    now = datetime.now(UTC)
    jobs = [Job.new(id=f"square-{i:03d}", kind="square", now=now, payload={"n": i}) for i in range(args.jobs)]
    jobs.append(Job.new(id="flaky-1", kind="flaky", now=now, max_attempts=5))
    jobs.append(
        Job.new(
            id="gated",
            kind="report",
            now=now,
            depends_on=tuple(j.id for j in jobs[:3]),
            follow_up=FollowUp("report", {"stage": 2}),
        )
    )
    store.submit(jobs)
    stop = threading.Event()
    threads = [threading.Thread(target=work, args=(store, f"worker-{i}", stop)) for i in range(args.workers)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        counts = store.counts()
        if not any(counts.get((q, s)) for q, s in counts if not s.terminal):
            break
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    for job in sorted(store.list(), key=lambda j: j.id)[:5]:
        print(f"{job.id:12} {job.status.value:9} attempts={job.attempts} result={job.result!r}")
    print("...")
    for (queue, status), n in sorted(store.counts().items(), key=lambda kv: kv[0][1].value):
        print(f"{queue}: {n} {status.value}")
    unfinished = sum(n for (_, s), n in store.counts().items() if s in (Status.QUEUED, Status.RUNNING))
    return 1 if unfinished else 0


if __name__ == "__main__":
    raise SystemExit(main())
