"""Registered python tasks through the worker loop, on the memory store."""

import threading
import time
from datetime import UTC, datetime

import pytest

from qrun.adapters.memory import MemoryStore
from qrun.adapters.runners.python_runner import PythonRunner, TaskRegistry, Transient
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.runtime.worker import Worker, WorkerSettings
from qrun.contract.builders import T0, new_job
from qrun.core import Policy, Run, Status


@pytest.fixture(name="setup")
def _setup():
    tasks = TaskRegistry()

    @tasks.task()
    def add(a, b):
        return a + b

    @tasks.task("flaky")
    def always_busy():
        raise Transient("rate limited")

    @tasks.task()
    def broken():
        raise KeyError("missing")

    runner = PythonRunner(tasks)
    store, clock = MemoryStore(), FakeClock(T0)
    worker = Worker(store, dict.fromkeys(tasks.names(), runner), clock=clock, policy=Policy())
    yield store, worker, runner
    runner.close()


def run_until_settled(worker, store, job_id, timeout_s=60.0):
    """Passes until the job left `running`, each after the runner said a task ended."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        worker.wake.clear()
        worker.tick()
        job = store.get(job_id)
        if job.status is not Status.RUNNING and not worker.inflight:
            return job
        worker.wake.wait(max(0.0, deadline - time.monotonic()))
    raise AssertionError(f"job {job_id} did not settle in {timeout_s}s")


def test_a_task_job_is_written_twice_claimed_then_finished(setup):
    """An in-process run has nothing to stamp (it dies with its worker), and the worker
    writes the result it collected itself in one decision: submit, claim, finish."""
    store, worker, _ = setup
    job = new_job(kind="add", payload={"a": 1, "b": 2})
    store.submit([job])
    got = run_until_settled(worker, store, job.id)
    assert got.status is Status.DONE and got.result == 3
    assert got.version == 3 and got.run.handle is None


def test_a_backlog_drains_without_waiting_on_poll_s():
    """R-G6: polling only covers a lost wake-up; with poll_s of an hour, a burst run over a
    backlog still ends as soon as the last task is recorded."""
    tasks = TaskRegistry()
    tasks.task("noop")(lambda: None)
    runner = PythonRunner(tasks, threads=4)
    store = MemoryStore()
    store.submit([new_job(kind="noop", now=datetime.now(UTC)) for _ in range(200)])
    worker = Worker(store, {"noop": runner}, settings=WorkerSettings(slots=4, poll_s=3600), policy=Policy())
    done = threading.Thread(target=worker.run, args=(threading.Event(),), kwargs={"burst": True})
    done.start()
    done.join(timeout=120)
    runner.close()
    assert not done.is_alive(), "the worker waited on poll_s"
    assert store.counts() == {("default", Status.DONE): 200}


def test_a_task_result_becomes_the_jobs_result(setup):
    store, worker, _ = setup
    job = new_job(kind="add", payload={"a": 2, "b": 40})
    store.submit([job])
    assert run_until_settled(worker, store, job.id).result == 42


def test_r_c8_a_transient_task_failure_spends_no_attempt(setup):
    store, worker, _ = setup
    job = new_job(kind="flaky", max_attempts=1)
    store.submit([job])
    got = run_until_settled(worker, store, job.id)
    assert got.status is Status.QUEUED and got.attempts == 0 and got.transient_attempts == 1


def test_a_task_exception_fails_the_job_with_its_type_and_message(setup):
    store, worker, _ = setup
    job = new_job(kind="broken", max_attempts=1)
    store.submit([job])
    got = run_until_settled(worker, store, job.id)
    assert got.status is Status.FAILED and got.error.splitlines()[0] == "KeyError: 'missing'"
    assert "Traceback (most recent call last)" in got.error  # kept for `qrun show` and app.result


def test_an_unregistered_task_is_refused_with_the_registered_names(setup):
    _, _, runner = setup
    from qrun.adapters.runners.command import InvalidPayload
    from qrun.core import Run

    with pytest.raises(
        InvalidPayload, match=r"no task named 'nope' is registered \(registered: add, broken, flaky\)"
    ):
        runner.spawn(new_job(kind="nope"), Run("r"))


def test_registering_two_tasks_under_one_name_is_refused():
    tasks = TaskRegistry()
    tasks.task("x")(lambda: 1)
    with pytest.raises(ValueError, match="registered already"):
        tasks.task("x")(lambda: 2)


def test_the_reaper_reads_an_ended_tasks_code_without_taking_its_outcome_from_the_worker():
    import time as _time

    from qrun.adapters.runners.python_runner import PythonRunner, TaskRegistry
    from qrun.bootstrap.runtime.reaper import _ended
    from qrun.contract.builders import new_job
    from qrun.core import Run

    tasks = TaskRegistry()
    tasks.task("answer")(lambda: 42)
    runner = PythonRunner(tasks)
    handle = runner.spawn(new_job(kind="answer"), Run("r1"))
    deadline = _time.monotonic() + 10
    while runner.exit_code(handle) is None and _time.monotonic() < deadline:
        _time.sleep(0.01)
    assert _ended(runner, handle) == 0
    assert runner.wait(handle, 1).result == 42  # still there for the worker


def test_closing_the_runner_cancels_its_async_tasks_and_lets_them_end():
    """A task scheduled on the loop when the runner closes is cancelled with the others,
    not left pending: stopping the loop alone could stop it before the task's first step,
    its coroutine never run (Python warns of it once the loop is collected)."""
    import asyncio
    import gc
    import warnings

    tasks = TaskRegistry()

    @tasks.task()
    async def wait_long() -> None:
        await asyncio.sleep(3600)

    runner = PythonRunner(tasks)
    job = new_job(kind="wait_long")
    loop = runner._event_loop()
    gate = threading.Event()
    loop.call_soon_threadsafe(gate.wait)  # the loop is busy: the spawn below waits its turn
    handle = runner.spawn(job, Run("r1"))
    closing = threading.Thread(target=runner.close)
    closing.start()
    gate.set()
    closing.join(30)
    assert not closing.is_alive()
    ended = runner.wait(handle, 30)  # before, the task stayed pending: no end to wait for
    assert ended is not None and ended.code == 1  # cancelled: the run ended, as a failure
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del runner, loop
        gc.collect()
    assert [w for w in caught if "never awaited" in str(w.message)] == []
