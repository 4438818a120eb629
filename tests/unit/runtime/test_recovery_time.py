"""R-G8: the worst-case recovery time is a formula of the settings, and holds."""

import pytest
from fakes import FakeRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from qrun.adapters.memory import MemoryStore
from qrun.bootstrap.config import load
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.wiring import bootstrap
from qrun.contract.builders import T0, new_job


@settings(max_examples=40, deadline=None)
@given(
    lease_s=st.sampled_from([3.0, 10.0, 30.0]),
    reaper_s=st.sampled_from([1.0, 5.0, 10.0]),
    poll_s=st.sampled_from([0.5, 1.0, 2.0]),
    death_after_s=st.floats(0, 20),
    phase_s=st.floats(0, 10),
)
def test_r_g8_a_dead_workers_job_is_adopted_within_the_documented_bound(
    lease_s, reaper_s, poll_s, death_after_s, phase_s
):
    """Worker A claims, heartbeats, then dies at an arbitrary moment; worker B and the
    reaper run on their own schedules (with an arbitrary phase). B adopts the job no later
    than `worst_case_recovery_s` after A's death."""
    config = load(env={}, lease_s=lease_s, reaper_interval_s=reaper_s, poll_s=poll_s)
    clock, runner, store = FakeClock(T0), FakeRunner(), MemoryStore()
    app_a = bootstrap(config, store=store, runners={"test": runner}, clock=clock)
    app_b = bootstrap(config, store=store, runners={"test": runner}, clock=clock)
    job = new_job(now=T0)
    store.submit([job])
    app_a.worker.tick()
    assert store.get(job.id).lease.worker == app_a.worker.id

    step = 0.05
    t, died_at, adopted_at = 0.0, death_after_s, None
    next_beat = 0.0
    next_reap, next_poll = phase_s % reaper_s, (phase_s * 0.37) % poll_s
    while adopted_at is None and t < died_at + 4 * config.worst_case_recovery_s:
        if t < died_at and t >= next_beat:  # A alive: heartbeat a third of a lease apart
            app_a.worker.leases.renew_now(app_a.worker.inflight)
            next_beat = t + lease_s / 3
        if t >= next_reap:
            app_b.reaper.tick()
            next_reap = t + reaper_s
        if t >= next_poll:
            app_b.worker.tick()
            next_poll = t + poll_s
            held = store.get(job.id).lease
            if held is not None and held.worker == app_b.worker.id:
                adopted_at = t
        clock.advance(step)
        t += step
    assert adopted_at is not None, "never adopted"
    assert adopted_at - died_at <= config.worst_case_recovery_s + 2 * step


def test_the_bound_is_the_sum_of_lease_reaper_interval_and_poll():
    config = load(env={}, lease_s=30, reaper_interval_s=10, poll_s=1)
    assert config.worst_case_recovery_s == pytest.approx(41)
