"""Section E rules decided purely: pool slots taken with the claim and given back on
every way out of `running` (R-E3), batch summaries (R-E1)."""

from datetime import timedelta

import attrs
from hypothesis import given
from hypothesis import strategies as st
from returns.result import Success

from qrun.contract.builders import T0, at, new_job, ok, rejected
from qrun.contract.strategies import events_of
from qrun.core import TABLE, Claim, Handle, PoolState, Sanitize, Status, decide, pick, violations
from qrun.core.batch import clear_refusal, summarize

H = Handle("subprocess", "1:1")


def claimed(slot=0, **kw):
    return ok(new_job(pool="wt", **kw), Claim("w", "r1", at(30), slot)).job


def test_r_e3_a_pool_job_is_claimed_only_with_a_slot_and_a_plain_job_only_without():
    assert "needs a slot of pool 'wt'" in rejected(new_job(pool="wt"), Claim("w", "r", at(30))).reason
    assert "needs no pool slot" in rejected(new_job(), Claim("w", "r", at(30), 1)).reason
    assert claimed(slot=2).pool_slot == 2


@given(st.data())
def test_r_e3_no_event_leaves_a_slot_held_outside_running_or_a_running_pool_job_without_one(data):
    """Walk a pool job through random accepted events: the slot is held exactly while running."""
    job = claimed()
    now = T0
    for _ in range(12):
        accepted = sorted(TABLE[job.status], key=lambda t: t.__name__)
        event = data.draw(events_of(data.draw(st.sampled_from(accepted))))
        if isinstance(event, Claim):
            event = attrs.evolve(event, slot=0)
        now += timedelta(seconds=data.draw(st.integers(0, 4000)))
        result = decide(job, event, now)
        if isinstance(result, Success):
            nxt = result.unwrap().job
            if job.status is Status.RUNNING and nxt.status is Status.RUNNING:
                assert nxt.pool_slot == job.pool_slot, f"{event} moved the slot"
            job = nxt
        assert (job.pool_slot is not None) == (job.status is Status.RUNNING)
        assert job.holding == ((job.pool, job.pool_slot) if job.status is Status.RUNNING else None)


def test_r_e3_the_sanitizer_gives_back_a_slot_found_outside_running():
    done = attrs.evolve(
        claimed(),
        status=Status.DONE,
        finished_at=at(2),
        lease=None,
    )
    assert "done holding a pool slot" in violations(done)
    assert ok(done, Sanitize(), at(3)).job.pool_slot is None
    queued = attrs.evolve(new_job(pool="wt"), pool_slot=1)
    assert "queued holding a pool slot" in violations(queued)


def test_r_e3_a_running_pool_job_without_its_slot_is_requeued_by_the_sanitizer():
    lost = attrs.evolve(claimed(), pool_slot=None)
    assert "running without its pool slot" in violations(lost)
    healed = ok(lost, Sanitize(), at(1)).job
    assert healed.status is Status.QUEUED and healed.pool_slot is None


@given(st.integers(0, 5), st.sets(st.integers(0, 6)), st.integers(0, 8))
def test_r_e3_pick_never_hands_out_a_held_slot_or_more_slots_than_the_pool_has(size, held, n):
    jobs = [new_job(id=f"j{i}", pool="wt") for i in range(n)]
    got = pick(
        jobs,
        now=T0,
        limit=n,
        running_per_key={},
        is_done=lambda _: True,
        pools={"wt": PoolState(size, frozenset(held))},
    )
    slots = [p.slot for p in got]
    assert len(set(slots)) == len(slots)
    assert all(s is not None and 0 <= s < size and s not in held for s in slots)
    assert len(got) == min(n, len([s for s in range(size) if s not in held]))


def test_r_e1_summary_counts_and_durations():
    rows = [
        (Status.DONE, at(0), at(4)),
        (Status.FAILED, at(0), at(1)),
        (Status.DONE, at(10), at(12)),
        (Status.RUNNING, at(5), None),
        (Status.CANCELLED, None, at(3)),  # cancelled before it started: no duration
    ]
    s = summarize("b", rows)
    assert dict(s.counts) == {Status.DONE: 2, Status.FAILED: 1, Status.RUNNING: 1, Status.CANCELLED: 1}
    assert (s.total, s.finished, s.complete) == (5, 4, False)
    assert s.durations is not None
    assert (s.durations.count, s.durations.min_s, s.durations.median_s, s.durations.max_s) == (
        3,
        1.0,
        2.0,
        4.0,
    )
    assert s.durations.total_s == 7.0


def test_r_e1_clearing_is_refused_with_what_is_still_open_or_needed():
    assert "2 job(s) still queued or running (a, b)" in clear_refusal("b1", ["b", "a"], {})
    assert "job x, outside batch b1, depends on its job a" in clear_refusal("b1", [], {"a": "x"})
    assert clear_refusal("b1", [], {}) is None
