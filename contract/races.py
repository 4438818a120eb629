"""Races: many actors on one store at once. Exactly one wins; losers change nothing."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import TypeVar

from qrun.core import (
    Cancel,
    Decision,
    Exited,
    Finished,
    FollowUp,
    Handle,
    Reap,
    ReapReason,
    Spawned,
    Status,
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
            lambda i: store.claim(f"w{i}", limit=1, now=T0, lease_until=lease(), policy=POLICY),
        )
        winners = [d for claimed in got for d in claimed]
        assert len(winners) == 1
        assert store.get(job.id) == winners[0].job

    def test_many_claimers_never_take_a_job_twice(self, store: JobStore) -> None:
        jobs = [new_job() for _ in range(60)]
        store.submit(jobs)

        def drain(i: int) -> list[str]:
            taken: list[str] = []
            while batch := store.claim(f"w{i}", limit=3, now=T0, lease_until=lease(), policy=POLICY):
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
            lambda i: store.claim(f"w{i}", limit=2, now=T0, lease_until=lease(), policy=POLICY),
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
            while batch := store.claim(f"w{i}", limit=2, now=T0, lease_until=lease(), policy=POLICY):
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
