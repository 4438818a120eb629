"""The reaper and sanitizer loops under a fake clock, on the memory store, with a fake
runner. Each of the seeds' reaper scenarios (REQUIREMENTS.md B and C) cites its id."""

import attrs
import pytest
from fakes import FakeRunner

from qrun.adapters.memory import MemoryStore
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.runtime.reaper import Reaper, Sanitizer
from qrun.contract.base import step
from qrun.contract.builders import T0, new_job
from qrun.core import ClaimRequest, Decision, Exited, Finished, FollowUp, Gate, Policy, Spawned, Status

P = Policy(dead_ticks=2, finalize_grace_s=60, max_running_s=3600)


@pytest.fixture(name="env")
def _env():
    store, clock, runner = MemoryStore(), FakeClock(T0), FakeRunner()
    return store, clock, runner


def running(store, runner, clock, **kw):
    """A job claimed under a long lease and spawned on the fake runner."""
    store.submit([new_job(**kw)])
    d = store.claim(
        ClaimRequest("w1", limit=1, now=clock.now(), lease_until=clock.now().replace(year=2031), policy=P)
    )[0]
    handle = runner.spawn(d.job, d.job.run)
    return step(store, d.job, Spawned(handle), clock.now())


def age(store, clock, seconds, worker="w1"):
    """`seconds` pass, and the holder's heartbeat reports it saw its runs running."""
    clock.advance(seconds)
    ids = [j.id for j in store.list() if j.status is Status.RUNNING and j.holds(worker)]
    until = clock.now().replace(year=2031)
    store.heartbeat(worker, ids, lease_until=until, now=clock.now(), ran_s=seconds)


def reaper(store, runner, clock, **kw):
    return Reaper(store, {"test": runner}, policy=P, clock=clock, **kw)


def test_r_b1_dead_for_dead_ticks_consecutive_ticks_is_reaped(env):
    store, clock, runner = env
    job = running(store, runner, clock, max_attempts=3)
    r = reaper(store, runner, clock)
    runner.die(job.id)
    assert r.tick() == []
    clock.advance(10)
    [repair] = r.tick()
    got = store.get(job.id)
    assert got.status is Status.QUEUED and got.clean
    assert "dead for 2 ticks" in repair.found and r.reaped_total == 1


def test_r_b1_an_alive_observation_resets_the_streak(env):
    store, clock, runner = env
    job = running(store, runner, clock)
    r = reaper(store, runner, clock)
    ref = f"{job.id}:{job.run.id}"
    runner.live.discard(ref)
    r.tick()
    runner.live.add(ref)
    r.tick()
    runner.live.discard(ref)
    r.tick()
    assert store.get(job.id).status is Status.RUNNING


def test_r_b2_alive_and_young_is_never_reaped(env):
    store, clock, runner = env
    job = running(store, runner, clock)
    r = reaper(store, runner, clock)
    for _ in range(59):  # every minute, up to a minute short of the ceiling
        clock.advance(60)
        assert r.tick() == []
    assert store.get(job.id).status is Status.RUNNING


def test_r_b3_the_ceiling_reaps_even_an_alive_job_and_kills_it(env):
    store, clock, runner = env
    job = running(store, runner, clock, max_attempts=1)
    age(store, clock, 3600)
    [repair] = reaper(store, runner, clock).tick()
    assert store.get(job.id).status is Status.FAILED
    assert runner.killed == [job.run.handle.ref] and "ceiling" in repair.found


def test_r_b4_exit_zero_gate_green_is_done_and_the_follow_up_happens_once(env):
    store, clock, runner = env
    job = running(store, runner, clock, follow_up=FollowUp("stage-2"))
    runner.finish(job.id, code=0)
    r = reaper(store, runner, clock)
    r.tick()  # records the exit (R-B5)
    assert store.get(job.id).run.exit_code == 0 and store.get(job.id).status is Status.RUNNING
    clock.advance(60)
    r.tick()
    assert store.get(job.id).status is Status.DONE
    assert store.get(f"{job.id}.next").kind == "stage-2"
    assert r.tick() == [] and r.reaped_total == 1


def test_r_b4_gate_red_requeues_without_follow_up(env):
    store, clock, runner = env
    job = running(store, runner, clock, follow_up=FollowUp("stage-2"), max_attempts=2)
    step(store, store.get(job.id), Exited(0), clock.now())
    clock.advance(60)
    reaper(store, runner, clock, gate=lambda j: Gate.RED).tick()
    assert store.get(job.id).status is Status.QUEUED and store.get(f"{job.id}.next") is None


def test_r_b4_already_advanced_is_done_without_a_second_follow_up(env):
    store, clock, runner = env
    job = running(store, runner, clock, follow_up=FollowUp("stage-2"))
    store.submit([new_job(id=f"{job.id}.next", kind="stage-2")])  # advanced before the crash
    step(store, store.get(job.id), Exited(0), clock.now())
    clock.advance(60)
    reaper(store, runner, clock).tick()
    assert store.get(job.id).status is Status.DONE
    assert store.counts()[("default", Status.QUEUED)] == 1  # only the one follow-up


def test_r_b4_non_zero_exit_fails_with_an_alert_when_attempts_are_spent(env):
    store, clock, runner = env
    job = running(store, runner, clock, max_attempts=1)
    notes = []
    step(store, store.get(job.id), Exited(4), clock.now())
    clock.advance(60)
    reaper(store, runner, clock, notify=notes.append).tick()
    assert store.get(job.id).status is Status.FAILED
    assert [n.alert for n in notes] == [True]


def test_r_b5_a_finalizing_job_is_left_alone_within_the_grace(env):
    store, clock, runner = env
    job = running(store, runner, clock)
    step(store, store.get(job.id), Exited(1), clock.now())
    clock.advance(59)
    runner.die(job.id)
    r = reaper(store, runner, clock)
    assert r.tick() == [] and r.tick() == []
    assert store.get(job.id).status is Status.RUNNING


def test_r_b6_a_reaper_that_loses_the_race_does_nothing_and_counts_nothing(env):
    """R-B6: the job is finished between the reaper's read and its write."""
    store, clock, runner = env
    job = running(store, runner, clock)
    clock.advance(3600)

    class Racing:
        """The store, except that another actor finishes every job the reaper reads."""

        def list(self, where):
            found = store.list(where)
            for j in found:
                step(store, store.get(j.id), Finished("won"), clock.now())
            return found

        def __getattr__(self, name):
            return getattr(store, name)

    racing = Racing()
    r = Reaper(racing, {"test": runner}, policy=P, clock=clock)
    assert r.tick() == []
    assert r.reaped_total == 0 and runner.killed == []
    assert store.get(job.id).result == "won"


def test_r_b8_the_kill_switch_makes_the_reaper_a_no_op(env):
    store, clock, runner = env
    job = running(store, runner, clock)
    clock.advance(3600)
    r = reaper(store, runner, clock, enabled=False)
    assert r.tick() == [] and r.last_run is None
    assert store.get(job.id).status is Status.RUNNING


def test_r_b9_one_jobs_error_is_isolated_and_the_tick_goes_on(env):
    store, clock, runner = env
    bad = running(store, runner, clock)
    good = running(store, runner, clock, max_attempts=1)
    runner.explode_for.add(bad.id)
    age(store, clock, 3600)
    r = reaper(store, runner, clock)
    [repair] = r.tick()
    assert repair.job_id == good.id and r.errors_total == 1


def test_r_b9_a_failing_store_never_stops_the_loop(env):
    _store, clock, runner = env

    class Down(MemoryStore):
        def sweep_stale_leases(self, now):
            raise ConnectionError("database down")

    r = Reaper(Down(), {"test": runner}, policy=P, clock=clock)
    assert r.tick() == [] and r.errors_total == 1


def test_r_b10_the_reaper_exposes_its_counters_for_the_status_endpoint(env):
    store, clock, runner = env
    running(store, runner, clock)
    age(store, clock, 3600)
    r = reaper(store, runner, clock)
    r.tick()
    assert (r.reaped_total, len(r.last_reaped), r.last_run) == (1, 1, clock.now())


def test_r_c3_a_running_job_without_a_handle_is_left_to_the_ceiling(env):
    store, clock, runner = env
    store.submit([new_job()])
    d = store.claim(
        ClaimRequest("w1", limit=1, now=clock.now(), lease_until=clock.now().replace(year=2031), policy=P)
    )
    assert d[0].job.run.handle is None  # its worker lives, but its spawn never returned
    r = reaper(store, runner, clock)
    for _ in range(5):
        age(store, clock, 10)
        assert r.tick() == []
    age(store, clock, 3600)
    assert len(r.tick()) == 1


def test_r_b3_a_wall_clock_set_a_day_forward_reaps_nothing(env):
    """The ceiling counts the time live workers saw a run, not the wall clock."""
    store, clock, runner = env
    job = running(store, runner, clock)
    age(store, clock, 10)
    clock.advance(25 * 3600)
    assert reaper(store, runner, clock).tick() == []
    assert store.get(job.id).status is Status.RUNNING


def test_r_c4_the_sanitizer_heals_and_counts_an_impossible_queued_job(env):
    store, clock, _runner = env
    store.submit([new_job()])
    job = store.list()[0]
    broken = attrs.evolve(job, started_at=T0, lease=None, version=job.version + 1)
    store.apply(Decision(broken))
    s = Sanitizer(store, policy=P, clock=clock)
    [repair] = s.tick()
    assert "queued with started_at" in repair.found
    assert store.get(job.id).clean and s.impossible_queued_total == 1
    assert s.tick() == [] and s.impossible_queued_total == 1  # idempotent
    assert Sanitizer(store, policy=P, clock=clock, enabled=False).tick() == []


class ReadCounting(MemoryStore):
    """The memory store, counting the jobs its listings hand out."""

    listed = 0

    def list(self, where=None, **kw):
        got = super().list(where, **kw) if where is not None else super().list(**kw)
        self.listed += len(got)
        return got


def test_a_tick_of_the_sanitizer_reads_only_the_open_jobs_that_may_need_care():
    """With thousands of healthy queued jobs, a tick asks the store for suspects
    (`Examinable`) and reads none of the healthy ones; start-up still reads the ended."""
    store, clock = ReadCounting(), FakeClock(T0)
    store.submit([new_job() for _ in range(2000)])
    job = store.list()[0]
    store.apply(Decision(attrs.evolve(job, started_at=T0, version=job.version + 1)))
    store.listed = 0
    s = Sanitizer(store, policy=P, clock=clock)
    [repair] = s.tick()
    assert repair.job_id == job.id and store.listed == 0
    assert s.tick(statuses=tuple(Status)) == [] and store.listed == 0  # nothing has ended yet


def test_r_c4_a_row_a_claim_heals_is_counted_and_recorded_as_the_sanitizers_own(env):
    from qrun.bootstrap.runtime.worker import Worker

    store, clock, runner = env
    store.submit([new_job()])
    job = store.list()[0]
    store.apply(Decision(attrs.evolve(job, started_at=T0, version=job.version + 1)))
    s = Sanitizer(store, policy=P, clock=clock)
    w = Worker(store, {"test": runner}, clock=clock, policy=P)
    w.healed = s.count
    w.tick()
    assert runner.spawned == []  # never handed out
    assert s.healed_total == 1 and s.impossible_queued_total == 1
    [repair] = s.last_repairs
    assert repair.job_id == job.id and "queued with started_at" in repair.found
    assert "by the claim that met it" in repair.done
    assert store.get(job.id).clean and s.tick() == []  # nothing left for the sanitizer
