"""Notifiers: structured log events, and JSON POSTed to a webhook (best-effort)."""

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from structlog.testing import capture_logs

from qrun.adapters.notify.log import LogNotifier
from qrun.adapters.notify.webhook import WebhookNotifier
from qrun.core import Notify


def test_a_note_is_one_structured_log_event_and_alerts_are_errors():
    with capture_logs() as logs:
        LogNotifier().notify(Notify("j1", "failed", "job j1 failed", alert=True))
        LogNotifier().notify(Notify("j2", "done", "job j2 done"))
    assert [(e["event"], e["job_id"], e["log_level"]) for e in logs] == [
        ("failed", "j1", "error"),
        ("done", "j2", "info"),
    ]


def test_successes_can_go_unlogged_while_failures_always_are():
    quiet = LogNotifier(done=False)
    with capture_logs() as logs:
        quiet.notify(Notify("j1", "done", "job j1 done"))
        quiet.notify(Notify("j2", "cancelled", "job j2 cancelled"))
        quiet.notify(Notify("j3", "failed", "job j3 failed", alert=True))
    assert [e["job_id"] for e in logs] == ["j2", "j3"]


@pytest.fixture(name="hook")
def _hook():
    got = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            got.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", got
    server.shutdown()


def test_a_webhook_receives_the_note_as_json(hook):
    url, got = hook
    WebhookNotifier(url).notify(Notify("j1", "failed", "boom", alert=True, detail={"attempts": 3}))
    assert got == [
        {"job_id": "j1", "topic": "failed", "message": "boom", "alert": True, "detail": {"attempts": 3}}
    ]


def test_alerts_only_skips_the_rest(hook):
    url, got = hook
    WebhookNotifier(url, alerts_only=True).notify(Notify("j1", "done", "ok"))
    assert got == []


def test_a_webhook_that_is_down_never_raises(caplog):
    WebhookNotifier("http://127.0.0.1:9/unreachable", timeout_s=0.5).notify(Notify("j1", "done", "ok"))
    assert "failed for job j1" in caplog.text


def test_a_webhook_url_must_be_http():
    with pytest.raises(ValueError, match="must start with http"):
        WebhookNotifier("file:///etc/passwd")
