"""Using qrun from an application: task options, the typed handle, results with their
traceback, async tasks and the async API (issue 19), on the memory store."""

import asyncio
import time

import pytest

from qrun.adapters.runners.python_runner import PythonRunner, TaskRegistry
from qrun.bootstrap.testing import app_for_tests, drain
from qrun.bootstrap.usecases.tasks import JobFailed, JobNotFinished
from qrun.contract.builders import T0
from qrun.core import Job, Run, Status


@pytest.fixture
def app():
    return app_for_tests()


def test_a_tasks_options_are_each_submits_defaults_and_a_submit_may_override_them(app):
    @app.task(queue="mail", max_attempts=5, priority=7)
    def send(to: str) -> str:
        return to

    job = app.store.get(send.submit(to="a@b"))
    assert (job.queue, job.max_attempts, job.priority, job.kind) == ("mail", 5, 7, "send")
    other = app.store.get(app.submit("send", {"to": "c@d"}, queue="urgent"))
    assert (other.queue, other.max_attempts) == ("urgent", 5)
    with pytest.raises(TypeError, match="unknown task option"):
        app.task(retries=3)


def test_a_unique_task_keeps_one_job_per_arguments_while_one_is_queued(app):
    @app.task(unique=True)
    def rebuild(page: str) -> None:
        return None

    first = rebuild.submit(page="home")
    assert rebuild.submit(page="home") == first
    assert rebuild.submit(page="about") != first


def test_the_typed_handle_refuses_arguments_that_do_not_fit_and_stores_nothing(app):
    @app.task()
    def send(to: str, subject: str = "hi") -> str:
        return f"{subject} {to}"

    with pytest.raises(
        ValueError, match=r"the arguments do not fit task send\(to: str, subject: str = 'hi'\)"
    ):
        send.submit(too="a@b")
    with pytest.raises(TypeError, match="by name"):
        send.submit("a@b")
    assert app.store.list() == []
    assert send("x") == "hi x"  # still the function when called


def test_result_returns_the_value_or_raises_with_the_tasks_traceback(app):
    @app.task(max_attempts=1)
    def div(a: int, b: int) -> float:
        return a / b

    good, bad = div.submit(a=6, b=3), div.submit(a=1, b=0)
    drain(app)
    assert app.result(good, timeout_s=5) == 2.0
    with pytest.raises(JobFailed) as failed:
        app.result(bad, timeout_s=5)
    assert failed.value.status is Status.FAILED
    assert failed.value.error.splitlines()[0] == "ZeroDivisionError: division by zero"
    assert "Traceback (most recent call last)" in failed.value.error and "return a / b" in failed.value.error


def test_result_gives_up_after_its_timeout(app):
    @app.task()
    def later() -> None:
        return None

    job_id = later.submit()
    started = time.monotonic()
    with pytest.raises(JobNotFinished, match=f"job {job_id} has not finished after 0.2s"):
        app.result(job_id, timeout_s=0.2, poll_s=0.05)
    assert time.monotonic() - started < 5


def test_async_tasks_and_the_async_api(app):
    @app.task()
    async def fetch(url: str) -> dict:
        await asyncio.sleep(0)
        return {"url": url, "ok": True}

    async def web_handler() -> dict:
        job_id = await fetch.submit_async(url="https://example.org")
        other = await app.submit_async("fetch", {"url": "https://qrun.dev"})
        drain(app)
        return {
            "one": await app.result_async(job_id, timeout_s=5),
            "two": await app.result_async(other, timeout_s=5),
        }

    got = asyncio.run(web_handler())
    assert got == {
        "one": {"url": "https://example.org", "ok": True},
        "two": {"url": "https://qrun.dev", "ok": True},
    }


def test_the_python_runner_runs_async_tasks_many_at_once_on_one_loop_bounded_by_async_slots():
    tasks = TaskRegistry()
    running, most = [0], [0]

    @tasks.task()
    async def nap(n: int) -> int:
        running[0] += 1
        most[0] = max(most[0], running[0])
        await asyncio.sleep(0.2)
        running[0] -= 1
        return n

    runner = PythonRunner(tasks, threads=1, async_slots=5)
    try:
        handles = [
            runner.spawn(Job.new(id=f"j{i}", kind="nap", now=T0, payload={"n": i}), Run(f"j{i}/1"))
            for i in range(10)
        ]
        started = time.monotonic()
        results = [runner.wait(h, 30).result for h in handles]
        assert results == list(range(10))
        assert most[0] == 5  # bounded, and not one at a time on the single thread
        assert time.monotonic() - started < 3
    finally:
        runner.close()


def test_an_async_task_is_cancelled_when_its_job_is(app):
    tasks = TaskRegistry()

    @tasks.task()
    async def forever() -> None:
        await asyncio.sleep(3600)

    runner = PythonRunner(tasks, threads=1)
    try:
        handle = runner.spawn(Job.new(id="j", kind="forever", now=T0), Run("j/1"))
        runner.kill(handle)
        done = runner.wait(handle, 10)
        assert done is not None and done.code == 1 and "Cancelled" in done.error
    finally:
        runner.close()


def test_a_tasks_backoff_spaces_its_retries_and_a_submit_may_give_its_own(app):
    from datetime import timedelta

    from qrun.core import Backoff

    own = Backoff(base_s=40, factor=1, jitter=0)

    @app.task(max_attempts=3, backoff=own)
    def flaky() -> None:
        raise RuntimeError("not yet")

    job_id = flaky.submit()
    before = app.clock.now()
    drain(app)
    job = app.store.get(job_id)
    assert (job.status, job.attempts, job.backoff) == (Status.QUEUED, 1, own)
    assert before + timedelta(seconds=40) <= job.available_at <= app.clock.now() + timedelta(seconds=40)
    other = app.store.get(app.submit("flaky", backoff={"base_s": 5, "jitter": 0}))
    assert other.backoff == Backoff(base_s=5, jitter=0)
    with pytest.raises(ValueError, match="backoff takes base_s, factor, cap_s and jitter, not delay"):
        app.submit("flaky", backoff={"delay": 5})
    with pytest.raises(ValueError, match="backoff: base_s must be >= 0"):
        app.task(backoff={"base_s": -1})


def test_an_async_tasks_timeout_fails_a_run_that_takes_longer(app):
    @app.task(max_attempts=1, timeout_s=0.05)
    async def slow() -> None:
        await asyncio.sleep(3600)

    job_id = slow.submit()
    drain(app)
    with pytest.raises(JobFailed, match=r"task slow ran past its timeout_s of 0\.05s"):
        app.result(job_id, timeout_s=30)


def test_a_timeout_on_a_plain_function_is_refused_at_registration(app):
    with pytest.raises(ValueError, match="timeout_s needs an async def task, and blocking is a plain"):

        @app.task(timeout_s=1)
        def blocking() -> None:
            return None

    with pytest.raises(ValueError, match="timeout_s must be seconds above 0"):
        app.task(timeout_s=0)


def test_serve_burst_waits_for_a_job_due_soon_and_names_the_ones_it_leaves(caplog):
    app = app_for_tests(burst_wait_s=30)

    @app.task()
    def noop() -> None:
        return None

    soon = app.submit("noop", {}, delay_s=0.3)  # a retry's backoff, say
    later = app.submit("noop", {}, delay_s=3600)
    with caplog.at_level("WARNING", logger="qrun"):
        app.serve(handle_signals=False, burst=True)
    assert app.store.get(soon).status is Status.DONE
    assert app.store.get(later).status is Status.QUEUED
    assert "burst done, leaving 1 queued job(s): 1 due later than burst_wait_s (30s)" in caplog.text


def test_serve_burst_with_no_wait_ends_at_once_and_says_so(caplog):
    app = app_for_tests(burst_wait_s=0)

    @app.task()
    def noop() -> None:
        return None

    waiting = app.submit("noop", {}, delay_s=3600)
    with caplog.at_level("WARNING", logger="qrun"):
        app.serve(handle_signals=False, burst=True)
    assert app.store.get(waiting).status is Status.QUEUED and "leaving 1 queued job(s)" in caplog.text
