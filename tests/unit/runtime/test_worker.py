"""The worker loop under a fake clock, on the real memory store, with a fake runner that
records what it was asked to do."""

import logging
import threading
from datetime import timedelta

import pytest
from fakes import CountingStore, FakeRunner

from qrun.adapters.memory import MemoryStore
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.runtime.worker import Worker, WorkerSettings
from qrun.contract.builders import T0, new_job, ok
from qrun.core import Cancel, ClaimRequest, OrphanPolicy, Policy, Status


@pytest.fixture(name="env")
def _env():
    store, clock, runner = MemoryStore(), FakeClock(T0), FakeRunner()

    def worker(name="w", **kw):
        kw.setdefault("slots", 2)
        settings = WorkerSettings(name=name, **kw)
        return Worker(store, {"test": runner}, settings=settings, clock=clock, policy=Policy())

    return store, clock, runner, worker


def test_claims_up_to_its_free_slots_and_records_exits(env):
    store, _clock, runner, worker = env
    jobs = [new_job() for _ in range(3)]
    store.submit(jobs)
    w = worker()
    w.tick()
    assert runner.spawned == [jobs[0].id, jobs[1].id] and set(w.inflight) == {jobs[0].id, jobs[1].id}
    runner.finish(jobs[0].id)
    runner.finish(jobs[1].id, code=2)
    w.tick()
    assert store.get(jobs[0].id).status is Status.DONE
    failed = store.get(jobs[1].id)
    assert failed.status is Status.QUEUED and failed.error == "exit code 2"  # retried with backoff
    assert runner.spawned[-1] == jobs[2].id


def test_r_c5_a_spawn_that_fails_gives_the_attempt_back(env):
    store, _clock, runner, worker = env
    job = new_job(max_attempts=1)
    store.submit([job])
    runner.fail_spawn = OSError("fork failed")
    worker().tick()
    got = store.get(job.id)
    assert got.status is Status.QUEUED and got.attempts == 0 and got.error == "fork failed"


def test_a_job_of_a_kind_it_cannot_run_is_left_queued_with_no_attempt_spent(env):
    # A daemon without the app that registers a task used to claim its jobs and spend
    # every attempt on "no runner": now the claim takes only the kinds it has.
    store, _clock, runner, worker = env
    job, mine = new_job(kind="mystery", max_attempts=1), new_job()
    store.submit([job, mine])
    worker().tick()
    got = store.get(job.id)
    assert got.status is Status.QUEUED and got.attempts == 0 and got.error is None
    assert runner.spawned == [mine.id]


def test_r_g3_a_lost_lease_makes_the_worker_forget_the_job(env):
    """R-G3: once another worker adopted the run, the first one records nothing for it."""
    store, clock, runner, worker = env
    job = new_job(kind="test")
    store.submit([job])
    w1 = worker("w1", lease_s=30)
    w1.tick()
    clock.advance(31)
    store.sweep_stale_leases(clock.now())
    w2 = worker("w2", lease_s=30)
    w2.tick()  # adopts
    assert store.get(job.id).lease.worker == w2.id
    w1._last_beat = None  # its next tick heartbeats
    runner.finish(job.id)
    w1.tick()
    assert job.id not in w1.inflight
    got = store.get(job.id)
    assert got.status is Status.RUNNING and got.lease.worker == w2.id  # w1 wrote nothing
    w2.tick()
    assert store.get(job.id).status is Status.DONE


def test_r_a6_adopting_a_vanished_run_requeues_it(env):
    store, clock, runner, worker = env
    job = new_job(kind="test", max_attempts=3)
    store.submit([job])
    worker("w1", lease_s=30).tick()
    runner.live.clear()  # the execution is gone
    clock.advance(31)
    store.sweep_stale_leases(clock.now())
    worker("w2").tick()
    got = store.get(job.id)
    assert got.status is Status.QUEUED and got.clean and got.adoptions == 1
    assert got.error == "nothing to adopt: the execution is gone"


@pytest.mark.parametrize(
    ("policy", "status"), [(OrphanPolicy.RETRY, Status.QUEUED), (OrphanPolicy.FAIL, Status.FAILED)]
)
def test_r_g4_a_live_orphan_under_retry_or_fail_is_stopped_before_it_ends(env, policy, status):
    """Under retry or fail, the adopter stops the live execution and the run ends as the
    policy says only once its exit is in: the job never runs again while it lives."""
    store, clock, runner, worker = env
    job = new_job(kind="test", orphan_policy=policy)
    store.submit([job])
    worker("w1", lease_s=30).tick()
    clock.advance(31)
    store.sweep_stale_leases(clock.now())
    w2 = worker("w2")
    w2.tick()
    got = store.get(job.id)
    assert got.status is Status.RUNNING and got.holds(w2.id) and runner.killed == [f"{job.id}:{got.run.id}"]
    w2.tick()
    assert store.get(job.id).status is Status.RUNNING  # still alive: nothing ends yet
    runner.finish(job.id, code=-15, error="killed")
    w2.tick()
    got = store.get(job.id)
    assert got.status is status and got.error.startswith("worker lost;")
    assert runner.spawned == [job.id]  # and not started again while it lived


def test_r_g4_an_orphan_that_ended_meanwhile_keeps_its_exit(env):
    store, clock, runner, worker = env
    job = new_job(kind="test", orphan_policy=OrphanPolicy.RETRY)
    store.submit([job])
    worker("w1", lease_s=30).tick()
    runner.finish(job.id, code=0)
    clock.advance(31)
    store.sweep_stale_leases(clock.now())
    w2 = worker("w2")
    w2.tick()
    w2.tick()
    assert store.get(job.id).status is Status.DONE and runner.killed == []


def test_r_e4_drain_releases_unfinished_runs_for_adoption(env):
    store, _clock, runner, worker = env
    job = new_job()
    store.submit([job])
    w = worker()
    w.tick()
    w.drain(timeout_s=0)
    got = store.get(job.id)
    assert got.status is Status.RUNNING and got.adoptable and not w.inflight
    assert runner.killed == []  # released alive, not killed


def test_r_b11_recover_makes_the_previous_processes_jobs_adoptable(env):
    store, _clock, _runner, worker = env
    job = new_job()
    store.submit([job])
    old = worker("w")
    old.tick()
    new = worker("w")
    assert new.id != old.id  # R-G1: a restart is a new identity
    assert new.recover("w", dead=lambda holder: holder == old.id) == 1
    assert store.get(job.id).adoptable
    new.tick()
    got = store.get(job.id)
    assert got.lease.worker == new.id and got.adoptions == 1 and job.id in new.inflight


def test_r_g1_recover_leaves_a_holder_not_proven_dead_its_leases(env):
    # The name's hold is no proof: it may have been lost (a dropped connection) while
    # the old holder lives on, on a host where its runs cannot be seen.
    store, _clock, _runner, worker = env
    job = new_job()
    store.submit([job])
    old = worker("w")
    old.tick()
    new = worker("w")
    assert new.recover("w", dead=lambda holder: False) == 0
    got = store.get(job.id)
    assert got.lease.worker == old.id and not got.adoptable
    old.tick()  # the live holder still carries it
    assert job.id in old.inflight


def test_r_g1_a_worker_that_may_not_act_claims_nothing_and_keeps_its_runs(env):
    store, _clock, _runner, worker = env
    first, second = new_job(), new_job()
    store.submit([first])
    w = worker("w")
    w.tick()
    allowed = False
    w.acting = lambda: allowed
    store.submit([second])
    w.tick()
    assert store.get(second.id).status is Status.QUEUED and first.id in w.inflight
    allowed = True
    w.tick()
    assert store.get(second.id).status is Status.RUNNING


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="slots must be >= 1"):
        WorkerSettings(slots=0)
    with pytest.raises(ValueError, match="lease_s must be > 0"):
        WorkerSettings(lease_s=0)


def _orphan_without_handle(store, clock, runner, job, started):
    """A worker claimed `job` and died before stamping the handle; `started`: whether its
    spawn had already started the execution."""
    until = clock.now() + timedelta(seconds=30)
    [d] = store.claim(ClaimRequest("dead", limit=1, now=clock.now(), lease_until=until, policy=Policy()))
    if started:
        runner.spawn(d.job, d.job.run)  # started, never stamped
    clock.advance(31)
    assert store.sweep_stale_leases(clock.now()) == 1
    return d.job


def test_r_c2_an_orphan_whose_spawn_started_but_was_never_stamped_is_adopted_not_run_twice(env):
    store, clock, runner, worker = env
    job = new_job(kind="test", max_attempts=1)
    store.submit([job])
    orphan = _orphan_without_handle(store, clock, runner, job, started=True)
    w = worker("w2")
    w.tick()
    got = store.get(job.id)
    assert got.run.handle is not None and got.lease.worker == w.id and got.adoptions == 1
    assert runner.spawned == [orphan.id]  # the one start, never a second
    runner.finish(job.id)
    w.tick()
    assert store.get(job.id).status is Status.DONE


def test_r_g4_an_orphan_that_never_started_is_retried_spending_an_attempt(env):
    store, clock, runner, worker = env
    job = new_job(kind="test", max_attempts=2)
    store.submit([job])
    _orphan_without_handle(store, clock, runner, job, started=False)
    worker("w2").tick()
    got = store.get(job.id)
    assert got.status is Status.QUEUED and got.attempts == 1
    assert got.error == "nothing to adopt: the execution is gone"


def test_exits_collected_together_are_written_as_one_batch():
    store, clock, runner = CountingStore(), FakeClock(T0), FakeRunner()
    jobs = [new_job() for _ in range(4)]
    store.submit(jobs)
    w = Worker(store, {"test": runner}, settings=WorkerSettings(slots=4), clock=clock, policy=Policy())
    w.tick()
    store.batches.clear()
    for job in jobs:
        runner.finish(job.id)
    w.tick()
    assert store.batches[0] == 4
    assert store.counts()[("default", Status.DONE)] == 4


def test_a_run_whose_stamp_lost_is_killed_never_left_running_unrecorded(env):
    """Cancelled between its claim and its stamp: the stamp loses, the run is stopped."""
    _store, clock, runner, _worker = env
    job = new_job()

    class CancelFirst(MemoryStore):
        def apply_many(self, decisions):
            if any(d.job.run and d.job.run.handle for d in decisions):
                current = self.get(job.id)
                super().apply_many([ok(current, Cancel(), clock.now())])
            return super().apply_many(decisions)

    store = CancelFirst()
    store.submit([job])
    w = Worker(store, {"test": runner}, clock=clock, policy=Policy())
    w.tick()
    assert store.get(job.id).status is Status.CANCELLED
    assert runner.killed == [f"{job.id}:{job.id}/2"] and not w.inflight


def test_burst_returns_once_nothing_is_left_to_start(env):
    _store, _clock, _runner, worker = env
    w = worker()
    w.run(threading.Event(), burst=True)  # an empty queue: returns at once
    assert not w.inflight


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"QRUN_SQLITE_SYNCHRONOUS": "fast"}, "sqlite_synchronous must be FULL .* or NORMAL .* got 'fast'"),
        ({"QRUN_COMPLETE_MS": "-1"}, "complete_ms must be >= 0, got -1.0"),
        ({"QRUN_COMPLETE_BATCH": "0"}, "complete_batch must be > 0, got 0"),
    ],
)
def test_the_worker_path_settings_are_checked_with_a_clear_message(env, message):
    from qrun.bootstrap.config import ConfigError, load

    with pytest.raises(ConfigError, match=message):
        load(env=env)


def test_an_exit_the_store_could_not_take_is_written_on_a_later_pass(env):
    """A store error while writing exits loses nothing: the run stays in flight, still
    leased, and its exit lands once the store answers again."""
    _store, clock, runner, _worker = env

    class Flaky(MemoryStore):
        down = False

        def apply_many(self, decisions):
            if self.down:
                raise ConnectionError("database is down")
            return super().apply_many(decisions)

    store = Flaky()
    job = new_job()
    store.submit([job])
    w = Worker(store, {"test": runner}, clock=clock, policy=Policy())
    w.tick()
    runner.finish(job.id)
    store.down = True
    with pytest.raises(ConnectionError):
        w.tick()
    assert job.id in w.inflight and store.get(job.id).status is Status.RUNNING
    store.down = False
    w.tick()
    assert store.get(job.id).status is Status.DONE and not w.inflight


def test_spawn_failures_are_logged_counted_and_backed_off(env, caplog):
    """A spawn that keeps failing (a full disk) is neither silent nor a hot loop."""
    store, clock, runner, worker = env
    job = new_job()
    store.submit([job])
    runner.fail_spawn = OSError("no space left on device")
    w = worker()
    with caplog.at_level(logging.WARNING, logger="qrun.worker"):
        w.tick()  # the first failure is claimable again at once (R-C5)
        w.tick()  # the second backs off
        w.tick()  # nothing to start until then
    got = store.get(job.id)
    assert w.spawn_failures_total == 2 and got.spawn_failures == 2
    assert got.status is Status.QUEUED and got.attempts == 0 and got.available_at > clock.now()
    assert caplog.text.count("could not start job") == 2 and "no space left on device" in caplog.text
