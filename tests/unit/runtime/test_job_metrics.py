"""The metrics people graph: queue wait and run duration histograms per queue and kind,
outcomes, retries, free slots and the oldest queued job's age, on /metrics."""

from fastapi.testclient import TestClient

from qrun.bootstrap.http import create_api
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.testing import app_for_tests, drain
from qrun.contract.builders import T0


def sample(text, name, **labels):
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and s.labels == {k: str(v) for k, v in labels.items()}:
                return s.value
    raise AssertionError(f"no {name}{labels} in:\n{text}")


def test_waits_durations_outcomes_and_retries_per_queue_and_kind():
    clock = FakeClock(T0)
    app = app_for_tests(clock=clock)

    @app.task(queue="mail", max_attempts=2)
    def send(fail: bool) -> None:
        clock.advance(3)  # it runs for three seconds
        if fail:
            raise RuntimeError("smtp down")

    send.submit(fail=False)
    clock.advance(2)  # it waited two
    drain(app)
    send.submit(fail=True)
    drain(app)
    clock.advance(3600)  # past the retry's backoff
    drain(app)
    app.submit("command", {"argv": ["true"]}, queue="later", delay_s=0)
    clock.advance(40)
    text = TestClient(create_api(app, token="t"), headers={"Authorization": "Bearer t"}).get("/metrics").text
    mail = {"queue": "mail", "kind": "send"}
    assert sample(text, "qrun_queue_wait_seconds_count", **mail) == 3  # two starts and a retry
    assert sample(text, "qrun_queue_wait_seconds_sum", **mail) >= 2
    assert sample(text, "qrun_run_duration_seconds_count", **mail) == 2
    assert sample(text, "qrun_run_duration_seconds_sum", **mail) == 6
    assert sample(text, "qrun_jobs_finished_total", **mail, outcome="done") == 1
    assert sample(text, "qrun_jobs_finished_total", **mail, outcome="failed") == 1
    assert sample(text, "qrun_job_retries_total", **mail) == 1
    assert sample(text, "qrun_oldest_queued_age_seconds", queue="later") == 40
    assert sample(text, "qrun_worker_free_slots") == 1
    assert "qrun_spawn_failures_total" in text and "qrun_reaped_total" in text
