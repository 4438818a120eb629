"""The dashboard in a real browser (the system's Chromium, driven by Playwright) against
a real `qrun serve`, on SQLite and on PostgreSQL: every page loads, a filter finds a
failed job whose traceback shows, a running job turns done without a reload, a cancel
works with the token and is refused without it. A screenshot of each page is saved in
the test's folder (and in $QRUN_SCREENSHOTS_DIR when set)."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.browser
QRUN = [sys.executable, "-m", "qrun.bootstrap.cli"]
TOKEN = "dash-t0ken"
TASKS = textwrap.dedent(
    """
    from qrun.bootstrap.wiring import bootstrap

    app = bootstrap()


    @app.task(max_attempts=1)
    def explode(reason: str) -> None:
        raise RuntimeError(reason)
    """
)


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail(
            "the dashboard's browser tests need the distribution's chromium (apt-get install chromium)"
        )
    return found


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def daemon(request, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("QRUN_")}
    if request.param == "sqlite":
        env["QRUN_DATABASE_URL"] = str(tmp_path / "q.db")
    else:
        env["QRUN_DATABASE_URL"] = request.getfixturevalue("postgres_url")
        env["QRUN_SCHEMA"] = request.getfixturevalue("pg_schemas")()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env.update(QRUN_HTTP_PORT=str(port), QRUN_API_TOKEN=TOKEN, QRUN_POLL_S="0.05", PYTHONPATH=str(tmp_path))
    (tmp_path / "tasks.py").write_text(TASKS)

    def qrun(*args):
        done = subprocess.run(
            [*QRUN, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    qrun("migrate")
    proc = subprocess.Popen(
        [*QRUN, "serve", "--app", "tasks:app"], cwd=tmp_path, env=env, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/healthz").status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the daemon's HTTP API never answered"
        time.sleep(0.1)
    yield base, qrun, tmp_path
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def shots(tmp_path: Path):
    where = [tmp_path / "screenshots"]
    if os.environ.get("QRUN_SCREENSHOTS_DIR"):
        where.append(Path(os.environ["QRUN_SCREENSHOTS_DIR"]))
    for w in where:
        w.mkdir(parents=True, exist_ok=True)

    def shot(page, name):
        for w in where:
            page.screenshot(path=str(w / f"{name}.png"), full_page=True)

    return shot


def test_the_dashboard_in_a_browser(daemon, browser):
    from playwright.sync_api import expect

    base, qrun, folder = daemon
    shot = shots(folder)
    go = folder / "go"
    running = qrun(
        "submit", "--", "sh", "-c", f"echo working; until [ -e {go} ]; do sleep 0.05; done; echo finished"
    )
    failed = qrun("submit", "--task", "explode", "--arg", 'reason="the disk is on fire"')
    qrun("pause", "parked")
    parked = qrun("submit", "--queue", "parked", "--", "true")

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto(f"{base}/")
    expect(page).to_have_url(f"{base}/ui/login?next=/")  # with a token set, pages need it
    shot(page, "login")
    page.get_by_label("API token").fill(TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.get_by_role("table").first).to_contain_text("parked")
    shot(page, "overview")

    for path, heading in (
        ("/ui/pools", "Pools"),
        ("/ui/workflows", "Workflows"),
        ("/ui/schedules", "Schedules"),
    ):
        page.goto(base + path)
        expect(page.get_by_role("heading", name=heading)).to_be_visible()
        shot(page, heading.lower())

    page.goto(f"{base}/ui/jobs")
    page.get_by_label("status").select_option("failed")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name=failed)).to_be_visible()
    expect(page.get_by_role("link", name=running)).to_have_count(0)
    shot(page, "jobs-failed")
    page.get_by_role("link", name=failed).click()
    expect(page.locator("pre").first).to_contain_text("RuntimeError: the disk is on fire")
    expect(page.locator("pre").first).to_contain_text("Traceback (most recent call last)")
    failure = page.get_by_role("table", name="What happened to this job").get_by_role("row").last
    expect(failure).to_contain_text("RuntimeError: the disk is on fire")
    shot(page, "job-failed")

    page.goto(f"{base}/ui/jobs/{running}")
    expect(page.locator("main")).to_contain_text("running", timeout=30_000)
    page.evaluate("window.__notReloaded = true")
    go.touch()
    expect(page.locator("main .status").first).to_have_text("done", timeout=30_000)
    assert page.evaluate("window.__notReloaded === true")  # updated in place, no reload
    expect(page.locator("main")).to_contain_text("finished")  # its stdout
    steps = page.get_by_role("table", name="What happened to this job")
    for step in ("Submitted", "Claim", "Spawned", "Finished"):  # every transition, in place
        expect(steps).to_contain_text(step)
    shot(page, "job-done")

    stranger = browser.new_context().new_page()  # no token: refused
    refused = stranger.request.post(f"{base}/ui/jobs/{parked}/cancel", max_redirects=0)
    assert refused.status == 401
    page.goto(f"{base}/ui/jobs/{parked}")
    page.once("dialog", lambda dialog: dialog.accept())  # it asks before cancelling
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("main .status").first).to_have_text("cancelled")
    shot(page, "job-cancelled")

    narrow = browser.new_page(viewport={"width": 390, "height": 800})
    narrow.context.add_cookies(page.context.cookies())
    narrow.goto(f"{base}/ui/jobs")
    expect(narrow.get_by_role("heading", name="Jobs")).to_be_visible()
    narrow.keyboard.press("Tab")  # keyboard: the first link takes the focus
    assert narrow.evaluate("document.activeElement.tagName") == "A"
    shot(narrow, "jobs-narrow")


def test_a_page_on_another_port_cannot_make_a_signed_in_browser_act(daemon, browser, tmp_path):
    """R-I3: SameSite cookies do not separate ports, so a page on 127.0.0.1:OTHER is
    "same-site" and the browser sends the session cookie with its form. The dashboard
    refuses it (its Origin is not the dashboard's) and the queue stays active."""
    import http.server
    import threading

    from playwright.sync_api import expect

    base, qrun, folder = daemon
    qrun("submit", "--queue", "mail", "--", "true")
    evil_dir = tmp_path / "evil"
    evil_dir.mkdir()
    (evil_dir / "index.html").write_text(
        f'<form id="f" method="post" action="{base}/ui/queues/mail/pause"></form>'
        "<script>document.getElementById('f').submit()</script>"
    )
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(evil_dir), **k)  # noqa: E731
    evil = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=evil.serve_forever, daemon=True).start()
    try:
        page = browser.new_page()
        page.goto(f"{base}/ui/login")
        page.get_by_label("API token").fill(TOKEN)
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("heading", name="Overview")).to_be_visible()
        with page.expect_response(f"{base}/ui/queues/mail/pause") as posted:
            page.goto(f"http://127.0.0.1:{evil.server_address[1]}/index.html")
        assert posted.value.status == 403
        expect(page.get_by_role("heading", name="Refused")).to_be_visible()
        shots(folder)(page, "cross-site-refused")
        queues = json.loads(qrun("queues", "--json"))
        assert queues["mail"]["paused"] is False
        # The same action from the dashboard's own page goes through.
        page.goto(f"{base}/")
        page.once("dialog", lambda dialog: dialog.accept())
        row = page.get_by_role("row").filter(has_text="mail")
        row.get_by_role("button", name="Pause").click()
        expect(page.locator("main")).to_contain_text("queue mail: paused")
        assert json.loads(qrun("queues", "--json"))["mail"]["paused"] is True
    finally:
        evil.shutdown()
