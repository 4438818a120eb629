"""The HTTP API on an app wired with the memory store and a fake clock."""

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from qrun.adapters.memory import MemoryStore
from qrun.bootstrap.config import load
from qrun.bootstrap.http import create_api
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.wiring import bootstrap
from qrun.contract.builders import T0
from qrun.core import Job

AUTH = {"Authorization": "Bearer s3cret"}
NONE = {"Authorization": ""}  # the client sends AUTH unless told otherwise


@pytest.fixture(name="setup")
def _setup(tmp_path):
    clock = FakeClock(T0)
    app = bootstrap(load(env={}, runs_dir=str(tmp_path / "runs")), store=MemoryStore(), clock=clock)
    return app, TestClient(create_api(app, token="s3cret"), headers=AUTH)  # reads need it too


def test_healthz_and_the_openapi_document(setup):
    _, client = setup
    assert client.get("/healthz").json()["ok"] is True
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/queue", "/jobs", "/jobs/{job_id}", "/metrics", "/healthz"} <= set(paths)


def test_submit_needs_the_token_and_then_the_job_is_visible(setup):
    _app, client = setup
    body = {"kind": "command", "payload": {"argv": ["echo", "hi"]}, "queue": "q1", "priority": 2}
    assert client.post("/jobs", json=body, headers=NONE).status_code == 401
    created = client.post("/jobs", json=body, headers=AUTH)
    assert created.status_code == 201
    job_id = created.json()["id"]
    got = client.get(f"/jobs/{job_id}").json()
    assert (got["status"], got["queue"], got["priority"]) == ("queued", "q1", 2)
    assert [j["id"] for j in client.get("/jobs", params={"status": "queued"}).json()] == [job_id]
    assert client.get("/jobs/nope").status_code == 404


def test_writes_are_disabled_without_a_configured_token(setup):
    app, _ = setup
    open_client = TestClient(create_api(app, token=None))
    refused = open_client.post("/jobs", json={"kind": "command", "payload": {"argv": ["true"]}})
    assert refused.status_code == 403 and "QRUN_API_TOKEN" in refused.json()["detail"]


def test_a_malformed_payload_is_refused_with_why(setup):
    _, client = setup
    bad = client.post("/jobs", json={"kind": "command", "payload": {"argv": "echo hi"}}, headers=AUTH)
    assert bad.status_code == 422 and "non-empty list of strings" in bad.json()["detail"]
    assert client.get("/jobs").json() == []  # nothing was stored


def test_queue_shows_counts_and_the_reaper_and_sanitizer_blocks(setup):
    _app, client = setup
    client.post("/jobs", json={"kind": "command", "payload": {"argv": ["true"]}}, headers=AUTH)
    body = client.get("/queue").json()
    assert body["counts"] == {"default": {"queued": 1}}
    assert {"reaped_total", "last_reaped", "last_run", "enabled"} <= set(body["reaper"])
    assert {"impossible_queued_total", "last_repairs", "last_run"} <= set(body["sanitizer"])


def test_metrics_are_prometheus_text(setup):
    _, client = setup
    client.post("/jobs", json={"kind": "command", "payload": {"argv": ["true"]}}, headers=AUTH)
    text = client.get("/metrics").text
    assert 'qrun_jobs{queue="default",status="queued"} 1.0' in text
    assert "qrun_reaped_total 0.0" in text and "qrun_impossible_queued_total 0.0" in text
    assert "qrun_spawn_failures_total 0.0" in text


def test_cancel_and_retry_answer_with_status_codes_that_mean_something(setup):
    _, client = setup
    job_id = client.post(
        "/jobs", json={"kind": "command", "payload": {"argv": ["true"]}}, headers=AUTH
    ).json()["id"]
    assert client.post(f"/jobs/{job_id}/retry", headers=AUTH).status_code == 409
    assert client.post(f"/jobs/{job_id}/cancel", headers=AUTH).json()["status"] == "cancelled"
    assert client.post(f"/jobs/{job_id}/retry", headers=AUTH).json()["status"] == "queued"
    assert client.post("/jobs/nope/cancel", headers=AUTH).status_code == 404
    assert client.post(f"/jobs/{job_id}/cancel", headers=NONE).status_code == 401


def test_dependencies_over_http_cancel_the_dependent_unless_it_waits(setup):
    _, client = setup
    command = {"kind": "command", "payload": {"argv": ["true"]}}
    parent = client.post("/jobs", json=command, headers=AUTH).json()["id"]
    child = client.post("/jobs", json={**command, "depends_on": [parent]}, headers=AUTH).json()["id"]
    waits = {**command, "depends_on": [parent], "on_dependency_failure": "wait"}
    waiter = client.post("/jobs", json=waits, headers=AUTH).json()["id"]
    bad = client.post("/jobs", json={**command, "on_dependency_failure": "skip"}, headers=AUTH)
    assert bad.status_code == 422 and "on_dependency_failure" in bad.text
    unknown = client.post("/jobs", json={**command, "depends_on": ["nope"]}, headers=AUTH)
    assert unknown.status_code == 422 and "unknown" in unknown.json()["detail"]
    client.post(f"/jobs/{parent}/cancel", headers=AUTH)
    got = client.get(f"/jobs/{child}").json()
    assert (got["status"], got["cancelled_for"]) == ("cancelled", parent)
    assert got["error"] == f"dependency {parent} ended cancelled"
    assert client.get(f"/jobs/{waiter}").json()["status"] == "queued"
    again = client.post(f"/jobs/{child}/retry", headers=AUTH).json()
    assert again["status"] == "cancelled"  # its dependency is still cancelled
    assert client.post(f"/jobs/{parent}/retry", headers=AUTH).json()["status"] == "queued"
    assert client.get(f"/jobs/{child}").json()["status"] == "queued"


def test_r_f3_pause_resume_and_queues_over_http(setup):
    app, client = setup
    app.submit("command", {"argv": ["true"]}, queue="mail")
    assert client.post("/queues/mail/pause", headers=NONE).status_code == 401
    assert client.post("/queues/mail/pause", headers=AUTH).json() == {"queue": "mail", "paused": True}
    assert client.get("/queues").json() == {"mail": {"paused": True, "counts": {"queued": 1}}}
    assert client.get("/queue").json()["paused"] == ["mail"]
    assert 'qrun_queue_paused{queue="mail"} 1.0' in client.get("/metrics").text
    client.post("/queues/mail/resume", headers=AUTH)
    assert client.get("/queues").json()["mail"]["paused"] is False


def test_r_f1_unique_submit_over_http_returns_the_holder(setup):
    _, client = setup
    body = {
        "kind": "command",
        "payload": {"argv": ["true"]},
        "unique_key": "nightly",
        "unique_finished": ["done"],
    }
    first = client.post("/jobs", json=body, headers=AUTH).json()["id"]
    assert client.post("/jobs", json=body, headers=AUTH).json()["id"] == first
    got = client.get(f"/jobs/{first}").json()
    assert got["unique"] == {"key": "nightly", "finished": ["done"]}


def test_r_f6_schedules_and_prune_over_http(setup):
    app, client = setup
    app.schedule("tick", "*/5 * * * *", "command", {"argv": ["true"]})
    (s,) = client.get("/schedules").json()
    assert (s["name"], s["cron"], s["seconds"]) == ("tick", "*/5 * * * *", None)
    assert s["next"] == [f"2030-01-01T00:{m}:00+00:00" for m in ("05", "10", "15")]  # what it means
    assert client.post("/prune", headers=AUTH).json() == {"pruned": 0}


@pytest.mark.parametrize(
    "extra", [{"delay": 60}, {"max_attempt": 9}, {"id": "mine"}, {"Priority": 5}], ids=lambda e: next(iter(e))
)
def test_r_i4_an_unknown_body_field_is_refused_naming_it_and_nothing_is_stored(setup, extra):
    _, client = setup
    body = {"kind": "command", "payload": {"argv": ["true"]}, **extra}
    refused = client.post("/jobs", json=body)
    assert refused.status_code == 422
    (problem,) = refused.json()["detail"]
    assert problem["loc"] == ["body", next(iter(extra))] and problem["type"] == "extra_forbidden"
    assert "unknown field" in problem["msg"]
    assert client.get("/jobs").json() == []


def test_r_i4_an_unknown_field_in_a_batchs_job_is_refused_and_the_batch_is_not_stored(setup):
    _, client = setup
    ok = {"kind": "command", "payload": {"argv": ["true"]}}
    refused = client.post("/batches", json={"jobs": [ok, {**ok, "delay": 5}]})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["loc"] == ["body", "jobs", 1, "delay"]
    refused = client.post("/batches", json={"jobs": [ok], "bacth": "b1"})
    assert refused.status_code == 422 and refused.json()["detail"][0]["loc"] == ["body", "bacth"]
    assert client.get("/jobs").json() == []


def test_r_i4_the_openapi_document_says_bodies_take_no_other_fields(setup):
    _, client = setup
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    assert schemas["SubmitBody"]["additionalProperties"] is False
    assert schemas["BatchBody"]["additionalProperties"] is False


def test_jobs_are_listed_newest_submitted_first_and_page_by_the_last_id(setup):
    app, client = setup
    store = app.store
    store.submit([Job.new(id="cron-late", kind="command", now=T0), Job.new(id="aaa", kind="command", now=T0)])
    store.submit([Job.new(id="0-newest", kind="command", now=T0 + timedelta(minutes=1))])
    ids = lambda got: [j["id"] for j in got.json()]  # noqa: E731
    assert ids(client.get("/jobs", headers=AUTH)) == ["0-newest", "cron-late", "aaa"]
    assert ids(client.get("/jobs?limit=1&after=cron-late", headers=AUTH)) == ["aaa"]
    assert ids(client.get("/jobs?order=oldest", headers=AUTH)) == ["aaa", "cron-late", "0-newest"]
    assert ids(client.get("/jobs?order=id", headers=AUTH)) == ["0-newest", "aaa", "cron-late"]
    assert client.get("/jobs?order=sideways", headers=AUTH).status_code == 422


def test_a_job_says_why_it_waits(setup):
    app, client = setup
    job_id = app.submit("command", {"argv": ["true"]}, delay_s=3600, queue="mail")
    app.store.pause("mail")
    got = client.get(f"/jobs/{job_id}", headers=AUTH).json()
    assert got["waiting"][:2] == [
        "scheduled for 2030-01-01T01:00:00+00:00",
        "its queue mail is paused: `qrun resume mail`",
    ]
