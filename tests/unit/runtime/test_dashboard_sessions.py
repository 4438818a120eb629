"""Dashboard sessions and the guard on its actions (R-I3): a session of its own, signed
and expiring, never the token; an action from another origin, without the session's
CSRF token, or from a signed-out, forged or expired session is refused and changes
nothing."""

import re

import pytest
from fastapi.testclient import TestClient

from qrun.adapters.memory import MemoryStore
from qrun.bootstrap.config import load
from qrun.bootstrap.http import create_api
from qrun.bootstrap.http.dashboard.sessions import COOKIE, Sessions
from qrun.bootstrap.runtime.clock import FakeClock
from qrun.bootstrap.wiring import bootstrap
from qrun.contract.builders import T0

TOKEN = "s3cret-t0ken"
HOST = "127.0.0.1:8772"
SAME = {"Origin": f"http://{HOST}", "Sec-Fetch-Site": "same-origin"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


# -- the sessions themselves ------------------------------------------------------------------
def test_a_session_cookie_holds_no_token_and_reads_back_until_it_expires():
    clock = Clock()
    sessions = Sessions(TOKEN, ttl_s=60, clock=clock)
    cookie, started = sessions.start()
    assert TOKEN not in cookie
    assert sessions.read(cookie) == started
    clock.now += 59.9
    assert sessions.read(cookie) == started
    clock.now += 0.2
    assert sessions.read(cookie) is None


def test_forged_tampered_and_foreign_cookies_are_refused():
    sessions = Sessions(TOKEN, ttl_s=60)
    cookie, _ = sessions.start()
    payload, signature = cookie.split(".")
    other_payload, _ = Sessions(TOKEN, ttl_s=10**9).start()[0].split(".")
    for forged in (
        "",
        "garbage",
        TOKEN,  # the old cookie was the token itself
        f"{payload}.{signature[:-2]}xx",
        f"{other_payload}.{signature}",  # a longer expiry under this signature
        f"{payload}.{signature}.extra",
        Sessions("another-token", ttl_s=60).start()[0],  # signed under another token
    ):
        assert sessions.read(forged) is None, forged
    assert sessions.read(cookie) is not None


def test_sessions_are_shared_by_daemons_with_one_token_and_end_when_it_changes():
    cookie, started = Sessions(TOKEN, ttl_s=60).start()
    assert Sessions(TOKEN, ttl_s=60).read(cookie) == started  # a second daemon, same token
    assert Sessions(TOKEN + "-rotated", ttl_s=60).read(cookie) is None


def test_a_signed_out_session_stays_ended_and_others_live_on():
    sessions = Sessions(TOKEN, ttl_s=60)
    first, one = sessions.start()
    second, two = sessions.start()
    assert one.csrf != two.csrf  # a CSRF token per session
    sessions.end(one)
    assert sessions.read(first) is None
    assert sessions.read(second) == two


# -- through the dashboard ----------------------------------------------------------------
@pytest.fixture(name="dash")
def _dash(tmp_path):
    app = bootstrap(load(env={}, runs_dir=str(tmp_path / "runs")), store=MemoryStore(), clock=FakeClock(T0))
    app.submit("command", {"argv": ["true"]}, queue="mail")
    client = TestClient(create_api(app, token=TOKEN), base_url=f"http://{HOST}", follow_redirects=False)
    return app, client


def sign_in(client) -> str:
    done = client.post("/ui/login", data={"token": TOKEN, "next": "/"}, headers=SAME)
    assert done.status_code == 303, done.text
    return csrf_of(client)


def csrf_of(client) -> str:
    page = client.get("/")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, "the overview's forms carry no CSRF token"
    return found.group(1)


def paused(app) -> bool:
    return bool(app.queues()["mail"]["paused"])


def test_signing_in_sets_a_signed_httponly_strict_cookie_that_is_not_the_token(dash):
    _, client = dash
    done = client.post("/ui/login", data={"token": TOKEN}, headers=SAME)
    header = done.headers["set-cookie"]
    assert header.startswith(f"{COOKIE}=") and TOKEN not in header
    for attribute in ("HttpOnly", "SameSite=strict", "Max-Age=28800", "Path=/"):
        assert attribute.lower() in header.lower(), attribute
    assert "secure" not in header.lower()  # plain http here; https sets Secure


def test_a_wrong_token_starts_no_session(dash):
    _, client = dash
    done = client.post("/ui/login", data={"token": "nope"}, headers=SAME)
    assert done.status_code == 401 and "set-cookie" not in done.headers
    assert client.get("/").status_code == 303  # still sent to sign in


def test_an_action_from_the_dashboard_with_its_csrf_token_acts(dash):
    app, client = dash
    csrf = sign_in(client)
    done = client.post("/ui/queues/mail/pause", data={"csrf": csrf}, headers=SAME)
    assert done.status_code == 303 and paused(app)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "http://127.0.0.1:8799", "Sec-Fetch-Site": "same-site"},  # another port
        {"Origin": "http://127.0.0.1:8799"},  # Origin alone
        {"Sec-Fetch-Site": "cross-site"},  # Sec-Fetch-Site alone
        {"Origin": "null"},  # a sandboxed frame or a data: page
        {"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
    ],
)
def test_a_cross_site_action_is_refused_and_changes_nothing(dash, headers):
    app, client = dash
    csrf = sign_in(client)  # even with the right CSRF token, which another site cannot read
    done = client.post("/ui/queues/mail/pause", data={"csrf": csrf}, headers=headers)
    assert done.status_code == 403
    assert "another site" in done.text or "not from this dashboard" in done.text
    assert not paused(app)


def test_an_action_without_the_sessions_csrf_token_is_refused(dash):
    app, client = dash
    sign_in(client)
    for data in ({}, {"csrf": "0" * 64}):
        done = client.post("/ui/queues/mail/pause", data=data, headers=SAME)
        assert done.status_code == 403 and "CSRF" in done.text
    assert not paused(app)


def test_a_forged_or_expired_session_is_refused(dash):
    app, client = dash
    csrf = sign_in(client)
    real = client.cookies[COOKIE]
    client.cookies.set(COOKIE, TOKEN)  # the token itself is no longer a session
    assert client.get("/").status_code == 303
    done = client.post("/ui/queues/mail/pause", data={"csrf": csrf}, headers=SAME)
    assert done.status_code == 401
    clock = Clock()
    clock.now = 10**12  # long after the session's eight hours
    state = client.app.app.state  # the dashboard's sessions, as a daemon eight hours on
    state.sessions = Sessions(TOKEN, ttl_s=state.sessions.ttl_s, clock=clock)
    client.cookies.set(COOKIE, real)
    assert client.get("/").status_code == 303
    done = client.post("/ui/queues/mail/pause", data={"csrf": csrf}, headers=SAME)
    assert done.status_code == 401 and not paused(app)


def test_signing_out_ends_the_session_even_for_a_copy_of_its_cookie(dash):
    app, client = dash
    csrf = sign_in(client)
    copy = client.cookies[COOKIE]
    done = client.post("/ui/logout", data={"csrf": csrf}, headers=SAME)
    assert done.status_code == 303
    client.cookies.set(COOKIE, copy)
    assert client.get("/").status_code == 303
    assert client.post("/ui/queues/mail/pause", data={"csrf": csrf}, headers=SAME).status_code == 401
    assert not paused(app)


def test_a_cross_site_sign_in_is_refused(dash):
    _, client = dash
    done = client.post("/ui/login", data={"token": TOKEN}, headers={"Origin": "http://127.0.0.1:8799"})
    assert done.status_code == 403 and "set-cookie" not in done.headers


def test_a_trusted_origin_behind_a_proxy_may_act(tmp_path):
    config = load(env={"QRUN_TRUSTED_ORIGINS": "https://qrun.example.com"}, runs_dir=str(tmp_path / "runs"))
    app = bootstrap(config, store=MemoryStore(), clock=FakeClock(T0))
    app.submit("command", {"argv": ["true"]}, queue="mail")
    client = TestClient(create_api(app, token=TOKEN), base_url="http://10.0.0.5:8765", follow_redirects=False)
    proxied = {"Origin": "https://qrun.example.com", "Sec-Fetch-Site": "same-origin"}
    assert client.post("/ui/login", data={"token": TOKEN}, headers=proxied).status_code == 303
    csrf = csrf_of(client)
    assert client.post("/ui/queues/mail/pause", data={"csrf": csrf}, headers=proxied).status_code == 303
    assert paused(app)


def test_a_jobs_page_says_why_it_waits(dash):
    app, client = dash
    job_id = app.submit("command", {"argv": ["true"]}, queue="ops")
    app.store.pause("ops")
    sign_in(client)
    page = client.get(f"/ui/jobs/{job_id}").text
    assert "Why it waits" in page and "its queue ops is paused" in page
