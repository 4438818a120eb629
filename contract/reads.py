"""Reading jobs back: filters, pages, counts and instants."""

from __future__ import annotations

from datetime import timedelta

from qrun.core import Cancel, Exited, Failed, Finished, Spawned, Status
from qrun.core.ports import JobFilter, JobStore

from .base import H, StoreFixtures, claim_one, step, stored
from .builders import T0, at, built, new_job


class StoreReads(StoreFixtures):
    def test_filters_compare_values_not_identities(self, store: JobStore) -> None:
        store.submit([new_job(id="job-q1", queue="q1", kind="k1", batch="b1"), new_job(queue="other")])
        where = JobFilter(queue=built("q", "1"), kind=built("k", "1"), batch=built("b", "1"))
        assert [j.id for j in store.list(where)] == ["job-q1"]
        assert [j.id for j in store.list(JobFilter(after=built("job-q0")))] == ["job-q1"]

    def test_newest_first_lists_ids_descending_and_pages_down(self, store: JobStore) -> None:
        store.submit(
            [*(new_job(id=f"job-n{i}", queue="n") for i in range(5)), new_job(id="job-o", queue="o")]
        )
        first = store.list(JobFilter(queue="n", limit=2, newest_first=True))
        assert [j.id for j in first] == ["job-n4", "job-n3"]
        rest = store.list(JobFilter(queue="n", limit=10, newest_first=True, after=built("job-n3")))
        assert [j.id for j in rest] == ["job-n2", "job-n1", "job-n0"]

    def test_newest_first_is_by_submit_time_then_id_and_pages_stably(self, store: JobStore) -> None:
        # Ids that say nothing of time (a schedule's "cron-...", a caller's own): the
        # newest submitted comes first all the same, and ties go by id.
        store.submit(
            [
                new_job(id="cron-b", queue="t", now=at(1)),
                new_job(id="cron-a", queue="t", now=at(1)),
                new_job(id="zzz", queue="t", now=at(0)),
                new_job(id="aaa", queue="t", now=at(2)),
                new_job(id="other", queue="u", now=at(3)),
            ]
        )
        newest = store.list(JobFilter(queue="t", newest_first=True))
        assert [j.id for j in newest] == ["aaa", "cron-b", "cron-a", "zzz"]
        pages, after = [], None
        while page := store.list(JobFilter(queue="t", newest_first=True, limit=1, after=after)):
            pages.append(page[0].id)
            after = built(page[0].id)
        assert pages == ["aaa", "cron-b", "cron-a", "zzz"]
        oldest = store.list(JobFilter(queue="t", oldest_first=True, after=built("zzz")))
        assert [j.id for j in oldest] == ["cron-a", "cron-b", "aaa"]
        assert store.list(JobFilter(newest_first=True, after="gone")) == []  # its place is unknown

    def test_list_filters_and_pages_by_id(self, store: JobStore) -> None:
        jobs = [new_job(id=f"l-{i:02d}", queue="a" if i % 2 else "b") for i in range(10)]
        store.submit(jobs)
        claim_one(store, queues=["a"])
        page1 = store.list(JobFilter(queue="a", limit=3))
        assert [j.id for j in page1] == ["l-01", "l-03", "l-05"]
        page2 = store.list(JobFilter(queue="a", limit=3, after=page1[-1].id))
        assert [j.id for j in page2] == ["l-07", "l-09"]
        assert [j.id for j in store.list(JobFilter(status=Status.RUNNING))] == ["l-01"]
        assert store.list(JobFilter(kind="nope")) == []

    def test_counts_per_queue_and_status(self, store: JobStore) -> None:
        store.submit([new_job(queue="a"), new_job(queue="a"), new_job(queue="b")])
        claim_one(store, queues=["a"])
        counts = store.counts()
        assert counts[("a", Status.RUNNING)] == 1
        assert counts[("a", Status.QUEUED)] == 1
        assert counts[("b", Status.QUEUED)] == 1
        assert sum(counts.values()) == 3

    def test_finished_counts_are_per_queue_and_status_since_a_time(self, store: JobStore) -> None:
        early, late, failing, cancelled, open_ = (new_job(queue=q) for q in ("a", "a", "b", "b", "a"))
        store.submit([early, late, failing, cancelled, open_])
        step(store, step(store, claim_one(store, queues=["a"]).job, Spawned(H), at(1)), Finished(), at(2))
        step(store, step(store, claim_one(store, queues=["a"]).job, Spawned(H), at(3)), Finished(), at(10))
        b = claim_one(store, queues=["b"], now=at(4)).job
        step(store, step(store, b, Spawned(H), at(4)), Failed("boom", final=True), at(10))
        step(store, stored(store, cancelled.id), Cancel(), at(11))
        assert dict(store.finished_counts(at(10))) == {
            ("a", Status.DONE): 1,
            ("b", Status.FAILED): 1,
            ("b", Status.CANCELLED): 1,
        }
        assert sum(store.finished_counts(at(2)).values()) == 4  # at `since` counts
        assert dict(store.finished_counts(at(12))) == {}

    def test_times_come_back_as_the_same_instants(self, store: JobStore) -> None:
        odd = T0 + timedelta(microseconds=123457)
        job = new_job(now=odd)
        store.submit([job])
        got = store.get(job.id)
        assert got is not None and got.requested_at == odd and got.requested_at.utcoffset() is not None

    def test_exit_code_is_kept_for_the_reaper(self, store: JobStore) -> None:
        store.submit([new_job()])
        job = step(store, step(store, claim_one(store).job, Spawned(H)), Exited(0), at(3))
        got = store.get(job.id)
        assert got is not None and got.run is not None
        assert (got.run.exit_code, got.run.exit_recorded_at) == (0, at(3))
