"""Bad input gets a clear error naming what was wrong, and loses nothing; secrets stay
put. Each test is one finding of the hostile-user review (issue 18)."""

import json

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from qrun.adapters.memory import MemoryStore
from qrun.bootstrap.cli import main
from qrun.bootstrap.config import ConfigError, load
from qrun.bootstrap.http import create_api
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.views import REDACTED
from qrun.bootstrap.wiring import bootstrap
from qrun.contract.builders import T0

TOKEN = {"Authorization": "Bearer s3cret"}
CMD = {"kind": "command", "payload": {"argv": ["true"]}}


@pytest.fixture
def app(tmp_path):
    config = load(
        env={}, runs_dir=str(tmp_path / "runs"), inputs_dir=str(tmp_path / "in"), max_body_bytes=200_000
    )
    return bootstrap(config, store=MemoryStore(), clock=FakeClock(T0))


@pytest.fixture
def client(app):
    return TestClient(create_api(app, token="s3cret"), headers=TOKEN)


def test_with_a_token_every_read_needs_it_and_healthz_does_not(client):
    none = {"Authorization": ""}
    for path in ("/jobs", "/queue", "/queues", "/metrics", "/pools", "/workflows", "/schedules"):
        assert client.get(path, headers=none).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401, path
        assert client.get(path).status_code == 200, path
    assert client.get("/healthz", headers=none).status_code == 200


def test_without_a_token_the_api_only_reads_and_only_on_loopback(app):
    open_api = TestClient(create_api(app, token=None))
    assert open_api.get("/jobs").status_code == 200
    assert open_api.post("/jobs", json=CMD).status_code == 403
    with pytest.raises(ConfigError, match=r"http_host '0.0.0.0' is not a loopback address.*QRUN_API_TOKEN"):
        load(env={}, http_host="0.0.0.0")
    assert load(env={}, http_host="0.0.0.0", api_token="t").http.host == "0.0.0.0"
    assert load(env={}, http_host="::1").http.host == "::1"
    assert load(env={}, http_host="0.0.0.0", http_port=0).http.port == 0  # no API at all


def test_the_openapi_document_declares_bearer_auth_and_the_error_body(client):
    doc = client.get("/openapi.json").json()
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    responses = doc["paths"]["/jobs"]["post"]["responses"]
    assert {"401", "403", "413", "422"} <= set(responses)
    assert responses["401"]["content"]["application/json"]["schema"]["$ref"].endswith("/Problem")


def test_env_values_are_never_shown(app, client):
    job_id = app.submit("command", {"argv": ["true"], "env": {"PASSWORD": "hunter2"}})
    shown = client.get(f"/jobs/{job_id}").json()
    assert shown["payload"]["env"] == {"PASSWORD": REDACTED}
    assert "hunter2" not in json.dumps(client.get("/jobs").json())
    assert app.store.get(job_id).payload["env"] == {"PASSWORD": "hunter2"}  # the job still gets it


def test_a_body_over_the_limit_is_refused_with_413_and_nothing_is_stored(app, client):
    big = {"kind": "command", "payload": {"argv": ["true"], "env": {"X": "x" * 300_000}}}
    refused = client.post("/jobs", json=big)
    assert refused.status_code == 413 and "max_body_bytes" in refused.json()["detail"]

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"kind": "command", "payload": {"argv": ["' + b"x" * 150_000
        yield b"y" * 150_000 + b'"]}}'

    assert (
        client.post("/jobs", content=chunks(), headers={"content-type": "application/json"}).status_code
        == 413
    )
    assert app.store.list() == []


def test_a_payload_over_max_payload_bytes_is_refused_on_every_path(tmp_path):
    config = load(
        env={}, runs_dir=str(tmp_path / "r"), inputs_dir=str(tmp_path / "i"), max_payload_bytes=1000
    )
    app = bootstrap(config, store=MemoryStore(), clock=FakeClock(T0))
    fat = {"argv": ["echo", "x" * 2000]}
    with pytest.raises(
        ValueError, match=r"payload is \d+ bytes as JSON; the limit is 1000 \(max_payload_bytes\)"
    ):
        app.submit("command", fat)
    with pytest.raises(ValueError, match="batch item 1: the payload is"):
        app.submit_batch([{"payload": {"argv": ["true"]}}, {"payload": fat}])
    refused = TestClient(create_api(app, token="t"), headers={"Authorization": "Bearer t"}).post(
        "/jobs", json={"kind": "command", "payload": fat}
    )
    assert refused.status_code == 422 and "max_payload_bytes" in refused.json()["detail"]
    assert app.store.list() == []


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"priority": 10**20}, "priority"),
        ({"priority": -(10**20)}, "priority"),
        ({"delay_s": 1e12}, "delay_s"),
        ({"delay_s": 1e300}, "delay_s"),
        ({"delay_s": -1}, "delay_s"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 10**9}, "max_attempts"),
        ({"concurrency_limit": 2**40}, "concurrency_limit"),
        ({"queue": "a\x00b"}, "queue"),
        ({"queue": "tab\there"}, "queue"),
        ({"queue": "q" * 300}, "queue"),
        ({"unique_key": ""}, "unique_key"),
    ],
)
def test_out_of_range_fields_get_422_naming_the_field(client, app, change, field):
    refused = client.post("/jobs", json={**CMD, **change})
    assert refused.status_code == 422, refused.text
    assert any(field in entry["loc"] for entry in refused.json()["detail"]), refused.json()
    assert app.store.list() == []


def test_infinity_and_huge_limits_are_422_not_500(client):
    raw = b'{"kind": "command", "payload": {"argv": ["true"]}, "delay_s": Infinity}'
    assert client.post("/jobs", content=raw, headers={"content-type": "application/json"}).status_code == 422
    assert client.get("/jobs", params={"limit": -(10**12)}).status_code == 422
    assert client.get("/topics/t/events", params={"limit": -5}).status_code == 422


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"priority": 2**40}, "priority must be a whole number from"),
        ({"delay_s": float("inf")}, "delay_s must be a number of seconds from 0 to"),
        ({"delay_s": 1e300}, "delay_s must be a number of seconds from 0 to"),
        ({"id": "a\x00b"}, "id 'a\\\\x00b' holds a control character"),
        ({"id": "x" * 256}, "id is 256 characters long; the limit is 255"),
        ({"queue": "new\nline"}, "queue 'new\\\\nline' holds a control character"),
        ({"unique_key": "k\x1b[31m"}, "unique key .* holds a control character"),
        ({"concurrency_key": "k" * 1000}, "concurrency_key is 1000 characters long"),
    ],
)
def test_the_library_refuses_the_same_with_a_clear_message(app, options, message):
    with pytest.raises(ValueError, match=message):
        app.submit("command", {"argv": ["true"]}, **options)
    assert app.store.list() == []


def test_task_arguments_are_checked_against_its_signature_at_submit(app):
    @app.task()
    def send(to: str, subject: str = "hi") -> None:
        pass

    with pytest.raises(
        ValueError, match=r"the arguments do not fit task send\(to: str, subject: str = 'hi'\)"
    ):
        app.submit("send", {"too": "a@b"})
    with pytest.raises(ValueError, match="no task named 'snd' in this app"):
        app.submit("snd", {"to": "a@b"})
    assert app.store.list() == []
    assert app.submit("send", {"to": "a@b"})


def test_the_cli_prints_a_message_not_a_traceback(tmp_path):
    cli = CliRunner()
    db = str(tmp_path / "q.db")
    env = {"QRUN_HTTP_PORT": "0", "QRUN_RUNS_DIR": str(tmp_path / "runs")}
    cases = [
        (["--db", db, "submit", "--priority", str(10**20), "--", "true"], "priority must be a whole number"),
        (["--db", db, "submit", "--delay", "1e300", "--", "true"], "delay_s must be a number of seconds"),
        (["--db", str(tmp_path / "missing" / "dir" / "q.db"), "ls"], "its folder .* does not exist"),
        (["--config", str(tmp_path), "ls"], "is a folder; give the path of a TOML file"),
    ]
    for args, message in cases:
        done = cli.invoke(main, args, env=env)
        assert done.exit_code == 1, (args, done.output)
        assert not isinstance(done.exception, Exception) or isinstance(done.exception, SystemExit), (
            done.exception
        )
        assert "Traceback" not in done.output
        import re

        assert re.search(message, done.output), (args, done.output)


def test_a_daemon_takes_only_jobs_of_the_pools_it_is_configured_with(tmp_path):
    """A daemon without a pool's config once claimed its jobs and ran them outside their
    worktrees; now they wait for a daemon that has the pool."""
    from fakes import FakeRunner

    from qrun.contract.builders import new_job
    from qrun.core import Status

    store, clock, runner = MemoryStore(), FakeClock(T0), FakeRunner()
    store.set_pool("gpu", 1)
    runs = str(tmp_path / "runs")
    without = bootstrap(load(env={}, runs_dir=runs), store=store, runners={"test": runner}, clock=clock)
    with_pool = bootstrap(
        load(env={}, runs_dir=runs, pools={"gpu": {"size": 1}}),
        store=store,
        runners={"test": runner},
        clock=clock,
    )
    pooled, plain = new_job(now=T0, pool="gpu", priority=5), new_job(now=T0)
    store.submit([pooled, plain])
    without.worker.tick()
    assert store.get(pooled.id).status is Status.QUEUED
    assert store.get(plain.id).lease.worker == without.worker.id
    with_pool.worker.tick()
    assert store.get(pooled.id).lease.worker == with_pool.worker.id
