"""Workflow sessions through the app, the session runner and the memory store: each R-D
line end to end (the rules themselves are tested purely in tests/unit/core)."""

import pytest

from qrun.adapters.runners.sessions import Skip
from qrun.bootstrap.testing import app_for_tests, drain
from qrun.core import Status
from qrun.core.ports import JobFilter
from qrun.core.topics import EventStatus
from qrun.core.workflow import SESSION_KIND, RunStatus


def sessions(app, name):
    return [
        j for j in app.store.list(JobFilter(kind=SESSION_KIND, limit=1000)) if j.payload["workflow"] == name
    ]


class Recorded:
    """The app under test and what its handlers were called with."""

    def __init__(self):
        self.app = app_for_tests()
        self.calls = []

    def __getattr__(self, name):
        return getattr(self.app, name)


@pytest.fixture
def app():
    rec = Recorded()
    app, calls = rec.app, rec.calls

    @app.handler()
    def fetch(ctx):
        calls.append(("fetch", ctx.iteration))
        for n in range(3):
            ctx.publish({"n": n})
        return 0.5

    @app.handler()
    def load(ctx):
        calls.append(("load", ctx.iteration, sorted(e.payload["n"] for e in ctx.events)))
        return 0.25

    @app.handler()
    def broken(ctx):
        calls.append(("broken", ctx.iteration))
        raise RuntimeError("source down")

    return rec


def test_r_d1_r_d2_a_session_record_completes_with_timestamps_and_its_cost(app):
    app.workflow("etl", producers=["fetch"], consumers=["load"], topic="rows")
    sid = app.trigger("etl")
    drain(app.app)
    job = app.store.get(sid)
    assert job.status is Status.DONE and job.started_at and job.finished_at
    assert job.result["status"] == "completed" and job.result["cost"] == 0.75  # R-D7
    assert app.calls == [("fetch", 0), ("load", 1, [0, 1, 2])]  # R-D9 producers first
    assert {e.status for e in app.store.events("rows")} == {EventStatus.CONSUMED}


def test_r_d1_a_missing_handler_fails_the_session_and_names_it(app):
    app.workflow("etl", producers=["fetch", "nope"], consumers=["load"], topic="rows")
    sid = app.trigger("etl")
    drain(app.app)
    job = app.store.get(sid)
    assert job.status is Status.FAILED and job.attempts == 1
    assert "workflow etl: invalid handler configuration: no handler registered as nope" in job.error
    assert app.calls == []


def test_r_d1_an_empty_workflow_completes(app):
    app.workflow("empty")
    sid = app.trigger("empty")
    drain(app.app)
    assert app.store.get(sid).result["reason"] == "the workflow has no handlers"


def test_r_d2_r_d9_the_first_producer_failure_fails_the_session_and_puts_the_workflow_in_error(app):
    app.workflow("etl", producers=["fetch", "broken", "load"], topic="rows")
    sid = app.trigger("etl")
    drain(app.app)
    job = app.store.get(sid)
    assert job.status is Status.FAILED and "producer broken failed: RuntimeError: source down" in job.error
    assert [c[0] for c in app.calls] == ["fetch", "broken"]  # p3 never ran
    assert "etl" in app.store.workflow_errors()
    app.trigger("etl")  # by hand: out of error
    assert "etl" not in app.store.workflow_errors()


def test_r_d3_an_event_trigger_skips_producers(app):
    app.workflow("etl", producers=["fetch"], consumers=["load"], topic="rows", on_event=True)
    app.publish("rows", {"n": 7})
    drain(app.app)
    [session] = sessions(app, "etl")
    assert session.payload["trigger"] == "event" and session.status is Status.DONE
    assert app.calls == [("load", 1, [7])]


def test_r_d4_consumers_run_only_when_events_are_pending(app):
    app.workflow("etl", consumers=["load"], topic="rows")
    sid = app.trigger("etl")
    drain(app.app)
    assert app.calls == [] and app.store.get(sid).result["reason"] == "no pending events"


def test_r_d4_a_failing_consumer_releases_its_events_and_skip_sets_them_aside(app):
    failures = iter([RuntimeError("db locked"), None])

    @app.handler()
    def flaky(ctx):
        if exc := next(failures):
            raise exc

    @app.handler()
    def picky(ctx):
        raise Skip("malformed rows")

    app.workflow("w1", consumers=["flaky"], topic="a", max_iterations=3)
    app.publish("a", {"n": 1})
    sid = app.trigger("w1")
    drain(app.app)
    runs = app.store.handler_runs(sid)
    assert [(r.iteration, r.status) for r in runs] == [(1, RunStatus.FAILED), (2, RunStatus.OK)]
    [event] = app.store.events("a")
    assert (event.status, event.deliveries) == (EventStatus.CONSUMED, 2)  # released once, never lost

    app.workflow("w2", consumers=["picky"], topic="b")
    app.publish("b", {"n": 2})
    app.trigger("w2")
    drain(app.app)
    [skipped] = app.store.events("b")
    assert (skipped.status, skipped.note) == (EventStatus.SKIPPED, "malformed rows")


def test_r_d5_the_budget_bounds_a_session(app):
    @app.handler()
    def echo(ctx):
        ctx.publish({"n": ctx.iteration})  # always leaves work behind

    app.workflow("loop", consumers=["echo"], topic="t", max_iterations=3)
    app.publish("t", {"n": 0})
    sid = app.trigger("loop")
    drain(app.app)
    job = app.store.get(sid)
    assert job.result["iterations"] == 3 and job.result["reason"] == "budget of 3 iteration(s) spent"


def test_r_d6_a_second_start_while_one_is_active_returns_the_active_session(app):
    app.workflow("etl", producers=["fetch"], consumers=["load"], topic="rows")
    first = app.trigger("etl")
    assert app.trigger("etl") == first
    drain(app.app)
    assert app.trigger("etl") != first  # a finished session no longer holds the workflow


def test_r_d8_a_paused_workflows_sessions_wait(app):
    app.workflow("etl", producers=["fetch"], consumers=["load"], topic="rows")
    app.pause_workflow("etl")
    sid = app.trigger("etl")
    drain(app.app)
    assert app.store.get(sid).status is Status.QUEUED and app.calls == []
    app.resume_workflow("etl")
    drain(app.app)
    assert app.store.get(sid).status is Status.DONE


def test_r_d8_a_session_resumes_from_its_stored_runs(app):
    """The session of a worker that died after `fetch` and iteration 1: a new worker's
    session (same job, requeued) goes on with iteration 2 and does not re-run fetch."""
    from qrun.core.workflow import HandlerRun, Role

    app.workflow("etl", producers=["fetch"], consumers=["load"], topic="rows", max_iterations=2)
    sid = app.trigger("etl")
    app.store.record_run(sid, HandlerRun(0, "fetch", Role.PRODUCER, RunStatus.OK, 0.5))
    app.store.record_run(sid, HandlerRun(1, "load", Role.CONSUMER, RunStatus.OK, 0.25))
    app.publish("rows", {"n": 9})
    drain(app.app)
    assert app.calls == [("load", 2, [9])]
    job = app.store.get(sid)
    assert job.result["iterations"] == 2 and job.result["cost"] == 1.0


def test_unknown_workflows_and_bad_definitions_are_refused_clearly(app):
    with pytest.raises(ValueError, match="no workflow named 'nope'"):
        app.trigger("nope")
    with pytest.raises(ValueError, match="on_event needs a topic"):
        app.workflow("x", consumers=["load"], on_event=True)
    with pytest.raises(ValueError, match="not a cron expression"):
        app.workflow("y", producers=["fetch"], schedule="every day")


def test_workflows_sessions_runs_and_events_over_http(app):
    from fastapi.testclient import TestClient

    from qrun.bootstrap.http import create_api

    app.workflow("etl", producers=["fetch"], consumers=["load"], topic="rows", schedule="0 3 * * *")
    client = TestClient(create_api(app.app, token="t"), headers={"Authorization": "Bearer t"})
    auth = {"Authorization": "Bearer t"}
    assert client.post("/workflows/etl/trigger", headers={"Authorization": ""}).status_code == 401
    sid = client.post("/workflows/etl/trigger", headers=auth).json()["session"]
    drain(app.app)
    wf = client.get("/workflows").json()["etl"]
    assert (wf["status"], wf["sessions"], wf["cost"], wf["schedule"]) == ("active", 1, 0.75, "0 3 * * *")
    [session] = client.get("/workflows/etl/sessions", params={"runs": True}).json()
    assert (session["id"], session["status"], session["iterations"]) == (sid, "completed", 1)
    assert [r["handler"] for r in session["runs"]] == ["fetch", "load"]
    assert [r["cost"] for r in client.get(f"/sessions/{sid}/runs").json()] == [0.5, 0.25]
    made = client.post("/topics/rows/events", json={"n": 5}, headers=auth)
    assert made.status_code == 201
    assert client.get("/topics/rows/events", params={"status": "pending"}).json()[0]["payload"] == {"n": 5}
    assert client.post("/workflows/etl/pause", headers=auth).json()["paused"] is True
    assert client.get("/workflows").json()["etl"]["status"] == "paused"
    assert client.post("/workflows/nope/trigger", headers=auth).status_code == 404


def test_workflows_from_the_command_line(tmp_path):
    """The CLI reads and drives workflows through the store, from any process."""
    from click.testing import CliRunner

    from qrun.bootstrap.cli import main

    db = str(tmp_path / "q.db")
    cli = CliRunner()

    def qrun(*args):
        done = cli.invoke(main, ["--db", db, *args], env={"QRUN_HTTP_PORT": "0"})
        assert done.exit_code == 0, done.output
        return done.output

    event = qrun("publish", "rows", '{"n": 1}').strip()
    assert event in qrun("events", "rows")
    sid = qrun("workflow", "trigger", "etl").strip()
    assert qrun("workflow", "trigger", "etl").strip() == sid  # R-D6
    qrun("workflow", "pause", "etl")
    assert "etl" in qrun("workflows") and "paused" in qrun("workflows")
    assert sid in qrun("sessions", "etl")
    bad = cli.invoke(main, ["--db", db, "publish", "rows", "[1]"])
    assert bad.exit_code == 2 and "must be a JSON object" in bad.output


def test_r_d1_command_handlers_read_events_on_stdin_and_publish_and_report_cost_on_stdout(app, tmp_path):
    seen = tmp_path / "seen.json"
    app.command_handler(
        "produce", ["sh", "-c", 'echo "not json"; echo \'{"publish": {"n": 1}}\'; echo \'{"cost": 2}\'']
    )
    app.command_handler("consume", ["sh", "-c", f'cat > {seen}; echo "{{\\"cost\\": 0.5}}"'])
    app.command_handler("refuse", ["sh", "-c", 'echo \'{"skip": "bad rows"}\''])
    app.command_handler("crash", ["sh", "-c", "echo oops >&2; exit 7"])
    app.workflow("cmd", producers=["produce"], consumers=["consume"], topic="c")
    sid = app.trigger("cmd")
    drain(app.app)
    job = app.store.get(sid)
    assert job.status is Status.DONE and job.result["cost"] == 2.5
    import json

    [event] = json.loads(seen.read_text())
    assert event["payload"] == {"n": 1} and event["topic"] == "c"

    app.workflow("cmd2", producers=["crash"])
    failed = app.trigger("cmd2")
    drain(app.app)
    assert "producer crash failed: CommandFailed: sh exited 7: oops" in app.store.get(failed).error

    app.workflow("cmd3", consumers=["refuse"], topic="d")
    app.publish("d", {"x": 1})
    app.trigger("cmd3")
    drain(app.app)
    assert [e.note for e in app.store.events("d")] == ["bad rows"]


def test_r_d3_the_schedule_trigger_fires_each_slot_once_and_skips_paused_and_failed_workflows():
    from datetime import UTC, datetime

    from qrun.bootstrap.runtime.clock import FakeClock

    clock = FakeClock(datetime(2026, 11, 24, 2, 59, 59, tzinfo=UTC))
    app = app_for_tests(clock=clock)
    app.workflow("nightly", schedule="0 3 * * *")
    app.workflow("paused", schedule="0 3 * * *")
    app.workflow("broken", schedule="0 3 * * *")
    app.pause_workflow("paused")
    app.store.set_workflow_error("broken", "producer p failed", clock.now())
    assert app.triggers.tick() == []  # not yet 03:00
    clock.advance(2)
    [sid] = app.triggers.tick()
    assert sid == "session-nightly-20261124T030000"
    drain(app)
    assert app.triggers.tick() == []  # the slot fired here already
    assert [j.id for j in app.store.list(JobFilter(kind=SESSION_KIND))] == [sid]


def test_a_store_without_the_workflow_ports_is_refused_clearly():
    from qrun.adapters.memory import MemoryStore

    class JobsOnly:
        """A JobStore that has none of the event and session methods."""

        def __init__(self):
            self._inner = MemoryStore()

        def __getattr__(self, name):
            if name in {
                "publish",
                "reserve",
                "settle",
                "events",
                "available",
                "record_run",
                "handler_runs",
                "set_workflow_error",
                "workflow_errors",
            }:
                raise AttributeError(name)
            return getattr(self._inner, name)

    app = app_for_tests(store=JobsOnly())
    with pytest.raises(ValueError, match="JobsOnly does not implement the EventStore and SessionStore"):
        app.publish("t", {})


def test_r_d3_a_publish_starts_only_the_workflows_run_on_events_of_its_topic():
    from datetime import UTC, datetime

    from qrun.bootstrap.runtime.clock import FakeClock

    clock = FakeClock(datetime(2026, 11, 24, 3, 0, 30, tzinfo=UTC))
    app = app_for_tests(clock=clock)

    @app.handler()
    def take(ctx):
        return None

    app.workflow("on-a", consumers=["take"], topic="a", on_event=True)
    app.workflow("on-b", consumers=["take"], topic="b", on_event=True)
    app.workflow("nightly", schedule="0 3 * * *")  # due now, but a publish is no scheduler tick
    app.publish("a", {"n": 1})
    assert [j.payload["workflow"] for j in app.store.list(JobFilter(kind=SESSION_KIND))] == ["on-a"]


def test_a_session_of_a_workflow_nobody_defines_fails_without_a_phantom_workflow_in_error(app):
    """The bare CLI cannot know the app's workflows, so it starts what it is asked to; the
    worker fails that session naming what it has, and puts no workflow in error."""
    from qrun.bootstrap.runtime.workflows import start_session
    from qrun.core.workflow import Trigger

    app.workflow("etl", producers=["fetch"])
    sid = start_session(app.store, app.clock, "nope", Trigger.MANUAL)
    drain(app.app)
    job = app.store.get(sid)
    assert job.status is Status.FAILED and "no workflow named 'nope'" in job.error and "etl" in job.error
    assert job.attempts == 1  # final: no retry can define it
    assert "nope" not in app.store.workflow_errors()


def test_the_cli_asks_the_same_use_case_and_an_app_that_knows_its_workflows_refuses_a_typo(app):
    app.workflow("etl", producers=["fetch"])
    app.app.knows_workflows = False  # as the bare CLI has it
    assert app.trigger("etl")
    app.app.knows_workflows = True
    with pytest.raises(ValueError, match=r"no workflow named 'etl2' \(defined: etl\)"):
        app.trigger("etl2")
    assert sessions(app, "etl2") == [] and "etl2" not in app.store.workflow_errors()
