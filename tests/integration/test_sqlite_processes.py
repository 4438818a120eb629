"""Several real processes on one SQLite file: no job runs twice, limits hold."""

from collections import Counter
from datetime import UTC, datetime

import pytest
from processes import run_workers

from qrun.adapters.sqlite import SqliteStore
from qrun.core import Job, Status


@pytest.mark.slow
def test_processes_sharing_one_file_run_each_job_exactly_once(tmp_path):
    path = tmp_path / "shared.db"
    SqliteStore.migrate(path)
    store = SqliteStore(path)
    now = datetime.now(UTC)
    plain = [Job.new(id=f"p{i:03d}", kind="k", now=now) for i in range(120)]
    keyed = [Job.new(id=f"k{i:03d}", kind="k", now=now, concurrency_key="one-at-a-time") for i in range(30)]
    store.submit(plain + keyed)
    ran = run_workers("sqlite", str(path), 4)
    assert Counter(r["id"] for r in ran) == Counter(j.id for j in plain + keyed)
    assert all(r["key_running"] <= r["limit"] for r in ran if r["id"].startswith("k"))
    assert store.counts() == {("default", Status.DONE): 150}
    assert all(j.attempts == 1 for j in store.list())
    assert len({r["id"] for r in ran}) == 150
    store.close()
