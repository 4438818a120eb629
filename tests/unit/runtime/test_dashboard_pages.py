"""Every dashboard page renders from its template, whole and as the fragment its live
script re-reads, with what a job holds escaped wherever it lands, and every form that
acts carrying the session's CSRF token (and none without a session)."""

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from qrun.adapters.memory import MemoryStore
from qrun.bootstrap.config import load
from qrun.bootstrap.http import create_api
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.wiring import bootstrap
from qrun.contract.builders import T0, ok
from qrun.core import Claim, Failed, Handle, Policy, Spawned
from qrun.core.claim import run_id_for

TOKEN = "pages-t0ken"
HOST = "127.0.0.1:8773"
SAME = {"Origin": f"http://{HOST}", "Sec-Fetch-Site": "same-origin"}
HOSTILE = "<img src=x onerror=alert(1)>"
PAGES = [
    "/",
    "/ui/jobs",
    "/ui/jobs?status=failed",
    "/ui/jobs?status=bogus",
    "/ui/jobs?text=img",
    "/ui/jobs/{failed}",
    "/ui/jobs/{queued}",
    "/ui/jobs/no-such-job",
    "/ui/batches/b1",
    "/ui/pools",
    "/ui/workflows",
    "/ui/workflows/none",
    "/ui/schedules",
]


@pytest.fixture(name="world")
def _world(tmp_path):
    config = load(
        env={},
        runs_dir=str(tmp_path / "runs"),
        schedules={"nightly": {"cron": "0 3 * * *", "argv": ["true"]}},
    )
    app = bootstrap(config, store=MemoryStore(), clock=FakeClock(T0))
    app.store.set_pool("gpu", 2)  # as `qrun serve` declares its configured pools
    queued = app.submit("command", {"argv": ["echo", HOSTILE]}, batch="b1", delay_s=60)
    for _ in range(50):  # a full page, so the next one is linked
        app.submit("command", {"argv": ["true"]})
    failed = app.submit("command", {"argv": ["false"]}, max_attempts=1)
    store = app.store
    job = store.get(failed)
    claim = ok(job, Claim("w", run_id_for(job), T0 + timedelta(seconds=30)), T0)
    store.apply(claim)
    spawn = ok(claim.job, Spawned(Handle("subprocess", "1:1")), T0)
    store.apply(spawn)
    store.apply(ok(spawn.job, Failed(HOSTILE, final=True), T0, Policy()))
    return app, {"failed": failed, "queued": queued}


def client_of(app, token=None):
    return TestClient(create_api(app, token=token), base_url=f"http://{HOST}", follow_redirects=False)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_renders_whole_and_as_a_fragment_with_job_data_escaped(world, path):
    app, ids = world
    client = client_of(app)
    whole = client.get(path.format(**ids))
    assert whole.status_code == 200, whole.text
    assert whole.text.startswith("<!doctype html>") and "</html>" in whole.text
    part = client.get(path.format(**ids), headers={"X-Qrun-Fragment": "1"})
    assert part.status_code == 200 and part.text.startswith("<h1>") and "<html" not in part.text
    for text in (whole.text, part.text):
        assert HOSTILE not in text  # escaped, wherever it shows


def test_a_job_page_shows_its_error_payload_and_timeline_escaped(world):
    app, ids = world
    failed = client_of(app).get(f"/ui/jobs/{ids['failed']}").text
    assert "&lt;img src=x onerror=alert(1)&gt;" in failed and "Retry" in failed
    assert "Claim" in failed and "Spawned" in failed and "Failed" in failed
    queued = client_of(app).get(f"/ui/jobs/{ids['queued']}").text
    assert "(available from)" in queued and "Cancel" in queued
    assert "echo" in queued and "/ui/batches/b1" in queued


def test_the_job_list_links_the_next_page_and_keeps_its_filters(world):
    app, _ = world
    page = client_of(app).get("/ui/jobs?queue=default").text
    older = re.search(r'href="(/ui/jobs\?[^"]*after=[^"]+)"', page)
    assert older, "a full page links the older jobs"
    assert "queue=default" in older.group(1)
    assert client_of(app).get(older.group(1).replace("&amp;", "&")).status_code == 200


def test_pools_schedules_and_the_overview_show_what_is_configured(world):
    app, _ = world
    client = client_of(app)
    assert "gpu" in client.get("/ui/pools").text and "0/2" in client.get("/ui/pools").text
    assert "nightly" in client.get("/ui/schedules").text and "0 3 * * *" in client.get("/ui/schedules").text
    overview = client.get("/").text
    assert "Jobs per queue and status" in overview and "Live daemons on every host" in overview


def test_signed_in_every_form_that_acts_carries_the_csrf_token_and_signed_out_none_does(world):
    app, ids = world
    client = client_of(app, token=TOKEN)
    assert client.post("/ui/login", data={"token": TOKEN, "next": "/"}, headers=SAME).status_code == 303
    for path in ("/", f"/ui/jobs/{ids['failed']}", f"/ui/jobs/{ids['queued']}", "/ui/jobs"):
        text = client.get(path).text
        posts = text.count('<form method="post"')
        assert posts >= 1, path  # the sign-out form at least
        assert len(re.findall(r'<input type="hidden" name="csrf" value="[^"]+">', text)) == posts, path
    reader = client_of(app).get(f"/ui/jobs/{ids['failed']}").text  # no token: it only reads
    assert 'name="csrf"' not in reader
