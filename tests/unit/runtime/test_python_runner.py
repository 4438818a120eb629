"""Registered python tasks through the worker loop, on the memory store."""

import pytest
from qrun.adapters.memory import MemoryStore
from qrun.adapters.runners.python_runner import PythonRunner, TaskRegistry, Transient
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.runtime.worker import Worker
from qrun.contract.builders import T0, new_job
from qrun.core import Policy, Status


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
    worker = Worker(store, dict.fromkeys(tasks.names(), runner), clock=clock, sleeper=clock, policy=Policy())
    yield store, worker, runner
    runner.close()


def run_until_settled(worker, store, job_id):
    for _ in range(200):
        worker.tick()
        job = store.get(job_id)
        if job.status is not Status.RUNNING and not worker.inflight:
            return job
        import time

        time.sleep(0.01)
    raise AssertionError("did not settle")


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
    assert got.status is Status.FAILED and got.error == "KeyError: 'missing'"


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
