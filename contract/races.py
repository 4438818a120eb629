"""Races: many actors on one store at once. Exactly one wins; losers change nothing."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import timedelta
from typing import TypeVar

from qrun.core import (
    Cancel,
    ClaimRequest,
    Decision,
    Exited,
    Finished,
    FollowUp,
    Handle,
    Heartbeat,
    Reap,
    ReapReason,
    Spawned,
    Status,
    Unique,
)
from qrun.core.ports import Applied, JobFilter, JobStore

from .base import POLICY, StoreFixtures, claim_one, lease, step
from .builders import T0, at, new_job, ok

R = TypeVar("R")


def together(n: int, work: Callable[[int], R]) -> list[R]:
    """Run `work(i)` in `n` threads released at the same instant; return their results."""
    barrier = threading.Barrier(n)
    results: list[R | BaseException] = [RuntimeError("did not run")] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except BaseException as exc:  # reported below, with the thread's index
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    errors = [(i, r) for i, r in enumerate(results) if isinstance(r, BaseException)]
    assert not errors, f"threads failed: {errors}"
    return results  # type: ignore[return-value]


class StoreRaces(StoreFixtures):
    def test_claimers_racing_for_one_job_exactly_one_wins(self, store: JobStore) -> None:
        job = new_job()
        store.submit([job])
        got = together(
            self.race_threads,
            lambda i: store.claim(ClaimRequest(f"w{i}", limit=1, now=T0, lease_until=lease(), policy=POLICY)),
        )
        winners = [d for claimed in got for d in claimed]
        assert len(winners) == 1
        assert store.get(job.id) == winners[0].job

    def test_batches_naming_one_job_twice_racing_exactly_one_first_write_wins(self, store: JobStore) -> None:
        """Each racer sends a batch naming the job twice, both decisions made from the
        version all of them read: one racer's first decision is written, every other
        decision is refused, and the results say exactly what was written."""
        store.submit([new_job()])
        job = step(store, claim_one(store).job, Spawned(Handle("subprocess", "1:1")))

        def race(i: int) -> tuple[str, ...]:
            first = ok(job, Heartbeat("w1", lease(at(i + 1), 60)), at(i + 1), POLICY)
            again = ok(job, Finished(i), at(i + 1), POLICY)
            return tuple(type(r).__name__ for r in store.apply_many([first, again]))

        results = Counter(together(self.race_threads, race))
        assert results == {("Applied", "Conflict"): 1, ("Conflict", "Conflict"): self.race_threads - 1}
        stored = store.get(job.id)
        assert stored is not None and stored.version == job.version + 1 and stored.status is Status.RUNNING

    def test_many_claimers_never_take_a_job_twice(self, store: JobStore) -> None:
        jobs = [new_job() for _ in range(60)]
        store.submit(jobs)

        def drain(i: int) -> list[str]:
            taken: list[str] = []
            while batch := store.claim(
                ClaimRequest(f"w{i}", limit=3, now=T0, lease_until=lease(), policy=POLICY)
            ):
                taken += [d.job.id for d in batch]
            return taken

        taken = [job_id for ids in together(self.race_threads, drain) for job_id in ids]
        assert Counter(taken) == Counter(j.id for j in jobs)
        assert store.counts() == {("default", Status.RUNNING): 60}

    def test_concurrency_limit_holds_under_concurrent_claimers(self, store: JobStore) -> None:
        """R-F1: a check-then-act race would let more than the limit run; it must not."""
        store.submit([new_job(concurrency_key="k", concurrency_limit=2) for _ in range(20)])
        got = together(
            self.race_threads,
            lambda i: store.claim(ClaimRequest(f"w{i}", limit=2, now=T0, lease_until=lease(), policy=POLICY)),
        )
        assert sum(len(c) for c in got) == 2
        assert len(store.list(JobFilter(status=Status.RUNNING, limit=100))) == 2

    def test_key_limits_hold_while_claimers_and_finishers_churn(self, store: JobStore) -> None:
        """R-F1: with claims and finishes interleaving, a key never has more running jobs
        than its limit, at any moment a claimer looks, and every job runs once."""
        jobs = [new_job(concurrency_key=f"k{i % 3}", concurrency_limit=2) for i in range(45)]
        store.submit(jobs)

        def churn(i: int) -> list[tuple[str, int]]:
            seen: list[tuple[str, int]] = []
            while batch := store.claim(
                ClaimRequest(f"w{i}", limit=2, now=T0, lease_until=lease(), policy=POLICY)
            ):
                running = store.list(JobFilter(status=Status.RUNNING, limit=1000))
                for d in batch:
                    key = d.job.concurrency_key
                    seen.append((d.job.id, sum(j.concurrency_key == key for j in running)))
                    assert isinstance(store.apply(ok(d.job, Finished(None), T0, POLICY)), Applied)
            return seen

        seen = [x for part in together(self.race_threads, churn) for x in part]
        assert Counter(job_id for job_id, _ in seen) == Counter(j.id for j in jobs)
        assert max(n for _, n in seen) <= 2
        assert store.counts() == {("default", Status.DONE): 45}

    def test_reaper_finisher_and_canceller_race_exactly_one_wins(self, store: JobStore) -> None:
        """R-B6: all decide from the same version; one write lands, the rest conflict, and
        the follow-up exists once."""
        store.submit([new_job(follow_up=FollowUp("next"))])
        job = step(store, claim_one(store).job, Spawned(Handle("subprocess", "1:1")))
        job = step(store, job, Exited(0), at(1))
        now = at(1 + POLICY.finalize_grace_s)
        decisions: list[Decision] = [
            ok(job, Finished("worker"), now, POLICY),
            ok(job, Reap(ReapReason.EXIT_OK), now, POLICY),
            ok(job, Cancel(), now, POLICY),
        ]
        decisions *= max(1, self.race_threads // 3)
        results = together(len(decisions), lambda i: store.apply(decisions[i]))
        winners = [r for r in results if isinstance(r, Applied)]
        assert len(winners) == 1
        assert store.get(job.id) == winners[0].job
        follow = store.get(f"{job.id}.next")
        if winners[0].job.status is Status.DONE:
            assert follow is not None
        else:
            assert follow is None

    def test_r_f1_concurrent_submits_of_one_unique_key_yield_one_job(self, store: JobStore) -> None:
        """The database decides who holds a key, not a read before the write."""
        jobs = [new_job(unique=Unique("nightly")) for _ in range(self.race_threads)]
        results = together(len(jobs), lambda i: store.submit([jobs[i]]))
        stored = store.list(JobFilter(limit=1000))
        assert len(stored) == 1
        assert {r[0] for r in results} == {stored[0].id}

    def test_r_f1_concurrent_batches_sharing_keys_yield_one_job_per_key(self, store: JobStore) -> None:
        keys = [f"k{i}" for i in range(5)]
        batches = [[new_job(unique=Unique(k)) for k in keys[i % 2 :] + keys[: i % 2]] for i in range(4)]
        results = together(len(batches), lambda i: store.submit(batches[i]))
        stored = store.list(JobFilter(limit=1000))
        assert sorted(j.unique.key for j in stored if j.unique) == keys
        holder = {j.unique.key: j.id for j in stored if j.unique}
        for batch, got in zip(batches, results, strict=True):
            assert got == [holder[j.unique.key] for j in batch if j.unique]

    def test_r_f3_pruning_under_concurrent_claims_loses_no_unfinished_job(self, store: JobStore) -> None:
        old = [new_job() for _ in range(30)]
        store.submit(old)
        for d in store.claim(ClaimRequest("w0", limit=30, now=T0, lease_until=lease(), policy=POLICY)):
            job = step(store, d.job, Spawned(Handle("subprocess", "1:1")))
            step(store, job, Finished(), at(1))
        fresh = [new_job() for _ in range(30)]
        store.submit(fresh)
        now = at(7200)
        keep = {Status.DONE: timedelta(hours=1)}

        def work(i: int) -> int:
            if i == 0:
                return sum(store.prune(now, keep, limit=3) for _ in range(15))
            got = 0
            while d := store.claim(
                ClaimRequest(f"w{i}", limit=2, now=now, lease_until=lease(now), policy=POLICY)
            ):
                got += len(d)
            return got

        results = together(4, work)
        assert results[0] == 30
        assert sum(results[1:]) == 30
        left = store.list(JobFilter(limit=1000))
        assert sorted(j.id for j in left) == sorted(j.id for j in fresh)
        assert all(j.status is Status.RUNNING for j in left)

    def test_heartbeats_racing_a_sweep_leave_a_coherent_lease(self, store: JobStore) -> None:
        store.submit([new_job()])
        job = claim_one(store).job
        results = together(
            2,
            lambda i: (
                store.heartbeat("w1", [job.id], lease_until=at(90), now=at(31))
                if i == 0
                else store.sweep_stale_leases(at(31))
            ),
        )
        got = store.get(job.id)
        assert got is not None
        if results[0]:
            assert got.lease is not None and got.lease.until == at(90)
        else:
            assert got.lease is None and results[1] == 1
