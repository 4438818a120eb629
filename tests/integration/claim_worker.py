"""A worker process for the multi-process tests: claim, check the key's limit, finish.

    python claim_worker.py STORE_KIND TARGET WORKER_NAME

It records, for every job it ran, how many jobs of its concurrency key were running
while it held it; the test asserts that never exceeded the limit.
"""

import json
import sys
import time
from datetime import UTC, datetime, timedelta

from qrun.core import Finished, Policy, Spawned, Status, decide
from qrun.core.job import Handle
from qrun.core.ports import Applied, JobFilter

sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
from processes import open_store
from returns.result import Success

from qrun.core import ClaimRequest


def main():
    kind, target, name = sys.argv[1:4]
    store = open_store(kind, target)
    policy = Policy()
    ran = []
    idle_since = time.monotonic()
    while time.monotonic() - idle_since < 2.0:
        now = datetime.now(UTC)
        claimed = store.claim(
            ClaimRequest(name, limit=2, now=now, lease_until=now + timedelta(seconds=60), policy=policy)
        )
        if not claimed:
            time.sleep(0.01)
            continue
        idle_since = time.monotonic()
        for d in claimed:
            job = d.job
            spawned = decide(job, Spawned(Handle("test", name)), now, policy).unwrap()
            assert isinstance(store.apply(spawned), Applied)
            running = store.list(JobFilter(status=Status.RUNNING, limit=10_000))
            same_key = sum(
                1 for j in running if j.concurrency_key and j.concurrency_key == job.concurrency_key
            )
            time.sleep(0.002)
            result = decide(spawned.job, Finished(name), datetime.now(UTC), policy)
            assert isinstance(result, Success)
            assert isinstance(store.apply(result.unwrap()), Applied)
            ran.append({"id": job.id, "key_running": same_key, "limit": job.concurrency_limit})
    store.close()
    print(json.dumps(ran))


if __name__ == "__main__":
    main()
