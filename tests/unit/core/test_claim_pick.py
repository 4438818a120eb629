"""The pure claim order: adopt first, then priority, availability, age; keys and deps."""

import attrs

from qrun.contract.builders import T0, at, new_job
from qrun.core import Claim, Handle, Lease, PoolState, Run, Status, pick


def running(job, leased=True):
    return attrs.evolve(
        job,
        status=Status.RUNNING,
        attempts=1,
        started_at=T0,
        run=Run("r", handle=Handle("subprocess", "1:1")),
        lease=Lease("w", at(30)) if leased else None,
    )


def ids(picks):
    return [p.job.id for p in picks]


def test_adoptable_jobs_come_before_any_queued_job():
    """R-A3: a running job with a cleared lease is handed out first."""
    q = new_job(id="q", priority=100)
    a = running(new_job(id="a", priority=-5), leased=False)
    held = running(new_job(id="h"))
    assert ids(pick([q, a, held], now=T0, limit=2, running_per_key={}, is_done=lambda _: False)) == ["a", "q"]


def test_queued_order_is_priority_then_availability_then_age():
    a = new_job(id="a", priority=1, now=at(0))
    b = new_job(id="b", priority=5, now=at(3))
    c = new_job(id="c", priority=1, now=at(0), available_at=at(1))
    d = new_job(id="d", priority=1, now=at(2))
    got = pick([a, b, c, d], now=at(5), limit=10, running_per_key={}, is_done=lambda _: False)
    assert ids(got) == ["b", "a", "c", "d"]


def test_jobs_not_yet_available_are_not_picked():
    later = new_job(id="l", available_at=at(60))
    assert pick([later], now=at(59), limit=1, running_per_key={}, is_done=lambda _: True) == []


def test_concurrency_key_limit_counts_running_and_picked_jobs():
    """R-F1: per-key limits hold across what is running and what this claim takes."""
    jobs = [new_job(id=f"k{i}", concurrency_key="k", concurrency_limit=2) for i in range(5)]
    assert len(pick(jobs, now=T0, limit=5, running_per_key={}, is_done=lambda _: False)) == 2
    assert len(pick(jobs, now=T0, limit=5, running_per_key={"k": 1}, is_done=lambda _: False)) == 1
    assert pick(jobs, now=T0, limit=5, running_per_key={"k": 2}, is_done=lambda _: False) == []


def test_a_blocked_key_does_not_block_other_jobs():
    blocked = new_job(id="a", concurrency_key="k", priority=9)
    free = new_job(id="b")
    assert ids(pick([blocked, free], now=T0, limit=2, running_per_key={"k": 1}, is_done=lambda _: False)) == [
        "b"
    ]


def test_dependencies_must_all_be_done():
    """R-F1: a job waits for every job it depends on to be done."""
    child = new_job(id="c", depends_on=("p1", "p2"))
    assert pick([child], now=T0, limit=1, running_per_key={}, is_done=lambda i: i == "p1") == []
    assert ids(pick([child], now=T0, limit=1, running_per_key={}, is_done=lambda _: True)) == ["c"]


def test_queue_filter_and_limit():
    jobs = [new_job(id=f"{q}{i}", queue=q) for q in "ab" for i in range(3)]
    got = pick(jobs, now=T0, limit=2, running_per_key={}, is_done=lambda _: False, queues=frozenset("b"))
    assert ids(got) == ["b0", "b1"]
    assert pick(jobs, now=T0, limit=0, running_per_key={}, is_done=lambda _: False) == []


def test_a_pool_job_takes_the_lowest_free_slot_and_never_more_than_the_pool_has():
    """R-E3: slots are handed out within the claim, so one claim cannot overfill a pool."""
    jobs = [new_job(id=f"p{i}", pool="wt") for i in range(5)]
    got = pick(
        jobs,
        now=T0,
        limit=5,
        running_per_key={},
        is_done=lambda _: False,
        pools={"wt": PoolState(3, frozenset({1}))},
    )
    assert [(p.job.id, p.slot) for p in got] == [("p0", 0), ("p1", 2)]
    assert got[0].event("w", at(30)) == Claim("w", "p0/2", at(30), 0)


def test_an_exhausted_or_undeclared_pool_passes_its_jobs_over_without_blocking_others():
    """R-E3: a job whose pool has no free slot stays queued; later jobs still start."""
    full = new_job(id="a", pool="wt", priority=9)
    nowhere = new_job(id="b", pool="gpu", priority=8)
    free = new_job(id="c")
    got = pick(
        [full, nowhere, free],
        now=T0,
        limit=3,
        running_per_key={},
        is_done=lambda _: False,
        pools={"wt": PoolState(1, frozenset({0}))},
    )
    assert ids(got) == ["c"]


def test_a_pool_slot_is_not_spent_on_a_job_its_concurrency_key_refuses():
    keyed = new_job(id="a", pool="wt", concurrency_key="k", priority=9)
    other = new_job(id="b", pool="wt")
    got = pick(
        [keyed, other],
        now=T0,
        limit=2,
        running_per_key={"k": 1},
        is_done=lambda _: False,
        pools={"wt": PoolState(1)},
    )
    assert [(p.job.id, p.slot) for p in got] == [("b", 0)]


def test_a_claim_serving_some_pools_leaves_other_pools_jobs_queued_and_unadopted():
    """R-E3: a claimer takes only jobs of the pools it serves (the empty set: jobs that
    need no pool); None serves every pool."""
    pools = {"wt": PoolState(2, frozenset()), "gpu": PoolState(2, frozenset())}
    gpu = new_job(id="gpu", pool="gpu", priority=9)
    orphan = running(new_job(id="orphan", pool="gpu"), leased=False)
    wt, plain = new_job(id="wt", pool="wt", priority=5), new_job(id="plain")
    jobs = [gpu, orphan, wt, plain]

    def served(served_pools):
        return ids(
            pick(
                jobs,
                now=T0,
                limit=10,
                running_per_key={},
                is_done=lambda _: False,
                pools=pools,
                served_pools=served_pools,
            )
        )

    assert served(frozenset({"wt"})) == ["wt", "plain"]
    assert served(frozenset()) == ["plain"]
    assert served(frozenset({"gpu"})) == ["orphan", "gpu", "plain"]
    assert served(None) == ["orphan", "gpu", "wt", "plain"]
