"""The dashboard's pages and actions. Reads go through the app's use cases like every
other entry point. With a token configured, pages need a session: the token is entered
once on /ui/login, which starts a signed, expiring session of its own (`sessions`); the
token never reaches the browser. Every action is a form POST that must come from the
dashboard's own pages (`guard`: the Origin and Sec-Fetch-Site headers, and the session's
CSRF token in the form). Without a token, the dashboard only reads."""

from __future__ import annotations

import hmac
import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from qrun.core import Cancel, Job, Retry, Status
from qrun.core.errors import QrunError
from qrun.core.ports import JobFilter

from ...app import App
from ...views import job_view
from .guard import Refused, form, guard, same_origin, session, with_csrf
from .html import action, e, link, page, pre, status, table
from .sessions import COOKIE

router = APIRouter(include_in_schema=False)  # signing in and actions
PAGE = 50


def _app(request: Request) -> App:
    app: App = request.app.state.qrun
    return app


def _reader(request: Request) -> None:
    """Every page's gate: with a token configured, to the sign-in page without a session."""
    if request.app.state.token and session(request) is None:
        where = urlencode({"next": request.url.path}, safe="/")
        raise HTTPException(303, "sign in first", headers={"Location": f"/ui/login?{where}"})


#: The pages that read, all behind `_reader`.
pages = APIRouter(include_in_schema=False, dependencies=[Depends(_reader)])
#: The actions, all behind `guard`.
actions = APIRouter(include_in_schema=False, dependencies=[Depends(guard)])


def _render(request: Request, title: str, body: str, *, live: bool = True) -> Response:
    note = request.query_params.get("note", "")
    if request.headers.get("x-qrun-fragment"):
        flash = f'<p class="note" role="status">{e(note)}</p>' if note else ""
        return HTMLResponse(with_csrf(request, f"<h1>{e(title)}</h1>{flash}{body}"))
    signed_in = session(request) is not None
    return HTMLResponse(with_csrf(request, page(title, body, signed_in=signed_in, live=live, note=note)))


# -- reading -------------------------------------------------------------------------------
@pages.get("/")
def overview(request: Request) -> Response:
    app = _app(request)
    queues = app.queues()
    statuses = [s.value for s in Status]
    rows = []
    for name, q in queues.items():
        toggle = (
            action(f"/ui/queues/{name}/resume", "Resume")
            if q["paused"]
            else action(
                f"/ui/queues/{name}/pause", "Pause", confirm=f"Pause queue {name}? No job of it will start."
            )
        )
        counts = [link("/ui/jobs", q["counts"].get(s, 0), queue=name, status=s) for s in statuses]
        rows.append(
            [link("/ui/jobs", name, queue=name), "paused" if q["paused"] else "active", *counts, toggle]
        )
    body = table(["queue", "state", *statuses, ""], rows, caption="Jobs per queue and status")
    body += _rates(app)
    body += _daemon(app.status())
    body += _daemons(app.daemons())
    return _render(request, "Overview", body)


def _rates(app: App) -> str:
    ended = app.finished_recently(minutes=5)
    done = sum(n for (_, s), n in ended.items() if s is Status.DONE)
    failed = sum(n for (_, s), n in ended.items() if s is Status.FAILED)
    rate = f"{(done + failed) / 5:.1f}"
    share = f"{100 * failed / (done + failed):.0f}%" if done + failed else "-"
    return (
        '<div class="cards"><section><h2>Last 5 minutes</h2>'
        f"<p>{done} done, {failed} failed: {rate} jobs a minute, {share} failed</p></section>"
    )


def _daemon(status_view: dict[str, Any]) -> str:
    r, s, w = status_view["reaper"], status_view["sanitizer"], status_view["worker"]
    repairs = [*r["last_reaped"], *s["last_repairs"]][:10]
    rows = [
        [link(f"/ui/jobs/{x['job_id']}", x["job_id"]), e(x["found"]), e(x["done"]), e(x["at"])]
        for x in repairs
    ]
    return (
        f"<section><h2>This daemon</h2><p>{e(w['id'])}: {len(w['inflight'])} of {w['slots']} slots running"
        "</p></section>"
        f"<section><h2>Reaper</h2><p>{r['reaped_total']} reaped, {r['errors_total']} errors</p></section>"
        f"<section><h2>Sanitizer</h2><p>{s['healed_total']} healed</p></section></div>"
        f"<h2>Last repairs</h2>{table(['job', 'found', 'done', 'at'], rows)}"
    )


def _daemons(daemons: list[dict[str, Any]]) -> str:
    rows = [
        [
            e(d["name"]),
            e(d["host"]),
            e(d["pid"]),
            f"{d['running']} of {d['slots']}",
            e(", ".join(d["queues"]) if d["queues"] else "all"),
            f"{d['seen_s_ago']}s ago",
        ]
        for d in daemons
    ]
    head = ["daemon", "host", "pid", "slots running", "queues", "reported"]
    return table(head, rows, caption="Live daemons on every host")


@pages.get("/ui/jobs")
def jobs(request: Request) -> Response:
    q = {k: v for k, v in request.query_params.items() if v and k != "note"}
    try:
        where = JobFilter(
            status=Status(q["status"]) if "status" in q else None,
            queue=q.get("queue"),
            kind=q.get("kind"),
            batch=q.get("batch"),
            after=q.get("after"),
            newest_first=True,
            limit=PAGE if "text" not in q else 2000,
        )
    except ValueError:
        return _render(request, "Jobs", "<p>Unknown status.</p>")
    found = _app(request).jobs(where)
    if "text" in q:  # a substring of the id, kind or error, within the newest 2,000 that match
        text = q["text"].lower()
        found = [j for j in found if text in f"{j.id} {j.kind} {j.error or ''}".lower()][:PAGE]
    rows = [
        [
            link(f"/ui/jobs/{j.id}", j.id),
            status(j.status.value),
            e(j.queue),
            e(j.kind),
            f"{j.attempts}/{j.max_attempts}",
            e(f"{j.requested_at:%Y-%m-%d %H:%M:%S}"),
            e((j.error or "").splitlines()[0][:80] if j.error else ""),
        ]
        for j in found
    ]
    body = _filters(q) + table(["id", "status", "queue", "kind", "attempts", "submitted", "error"], rows)
    if len(found) == PAGE and "text" not in q:
        body += "<p>" + link("/ui/jobs", "Older jobs →", **{**q, "after": found[-1].id}) + "</p>"
    return _render(request, "Jobs", body)


def _filters(q: dict[str, str]) -> str:
    options = "".join(
        f'<option value="{s.value}"{" selected" if q.get("status") == s.value else ""}>{s.value}</option>'
        for s in Status
    )
    fields = "".join(
        f'<label>{name}<input name="{name}" value="{e(q.get(name, ""))}"></label>'
        for name in ("queue", "kind", "batch", "text")
    )
    return (
        '<form class="filters" method="get" action="/ui/jobs" role="search">'
        f'<label>status<select name="status"><option value="">any</option>{options}</select></label>'
        f"{fields}<button>Filter</button></form>"
    )


@pages.get("/ui/jobs/{job_id}")
def job(request: Request, job_id: str) -> Response:
    app = _app(request)
    found = app.job(job_id)
    if found is None:
        return _render(request, "No such job", f"<p>No job {e(job_id)}.</p>", live=False)
    view = job_view(found)
    acts = ""
    if not found.status.terminal:
        acts += action(f"/ui/jobs/{job_id}/cancel", "Cancel", confirm=f"Cancel job {job_id}?")
    if found.status in (Status.FAILED, Status.CANCELLED):
        acts += action(f"/ui/jobs/{job_id}/retry", "Retry")
    deps = ", ".join(link(f"/ui/jobs/{d}", d) for d in found.depends_on) or "none"
    follow = e(json.dumps(view["follow_up"])) if view.get("follow_up") else "none"
    batch = link(f"/ui/batches/{found.batch}", found.batch) if found.batch else "none"
    reasons = app.waiting(found)
    why = f"<h2>Why it waits</h2><ul>{''.join(f'<li>{e(r)}</li>' for r in reasons)}</ul>" if reasons else ""
    body = (
        f"<p>{status(found.status.value)} queue {e(found.queue)}, kind {e(found.kind)}, "
        f"attempt {found.attempts} of {found.max_attempts}, batch {batch}</p><p>{acts}</p>{why}"
        f"<h2>Timeline</h2>{_timeline(found)}"
        f"<h2>Error</h2>{pre(found.error) if found.error else '<p>none</p>'}"
        f"<h2>Payload</h2>{pre(json.dumps(view['payload'], indent=2))}"
        f"<h2>Result</h2>{pre(json.dumps(found.result, indent=2))}"
        f"<h2>Output</h2>{_logs(app, job_id)}"
        f"<h2>Dependencies</h2><p>{deps}</p><h2>Follow-up</h2><p>{follow}</p>"
    )
    return _render(request, f"Job {job_id}", body)


def _timeline(job: Job) -> str:
    """Its submission, the steps `core.timeline` kept, and when a waiting job may run."""
    rows = [[_when(job.requested_at), "Submitted", "queued", "0", "", ""]]
    rows += [
        [_when(s.at), e(s.event), e(s.status.value), str(s.attempt), e(s.worker or ""), e(s.note or "")]
        for s in job.history
    ]
    if job.status is Status.QUEUED and job.available_at > (
        job.history[-1].at if job.history else job.requested_at
    ):
        rows.append([_when(job.available_at), "(available from)", "queued", str(job.attempts), "", ""])
    return table(
        ["at", "step", "status", "attempt", "worker", "note"], rows, caption="What happened to this job"
    )


def _when(at: datetime) -> str:
    """To the millisecond in UTC, the exact instant in the element's `datetime`."""
    shown = at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
    return f'<time datetime="{e(at.isoformat())}">{shown}</time>'


def _logs(app: App, job_id: str) -> str:
    try:
        out, err = app.logs(job_id)
    except QrunError as exc:
        return f'<p class="muted">{e(exc)}</p>'
    return f"<h3>stdout</h3>{pre(_tail(out))}<h3>stderr</h3>{pre(_tail(err))}"


def _tail(data: bytes) -> str:
    return data[-4000:].decode(errors="replace")


@pages.get("/ui/batches/{batch_id}")
def batch(request: Request, batch_id: str) -> Response:
    summary = _app(request).batch(batch_id)
    counts = ", ".join(
        f"{s.value} {n}" for s, n in sorted(summary.counts.items(), key=lambda kv: kv[0].value)
    )
    d = summary.durations
    times = f"; durations min {d.min_s:.2f}s median {d.median_s:.2f}s max {d.max_s:.2f}s" if d else ""
    body = f"<p>{summary.finished}/{summary.total} finished: {e(counts)}{e(times)}</p>"
    body += "<p>" + link("/ui/jobs", "Its jobs", batch=batch_id) + "</p>"
    return _render(request, f"Batch {batch_id}", body)


@pages.get("/ui/pools")
def pools(request: Request) -> Response:
    rows = [
        [
            e(name),
            f"{p['in_use']}/{p['size']}",
            " ".join(f"{slot}: {link(f'/ui/jobs/{j}', j)}" for slot, j in p["holders"].items()),
        ]
        for name, p in _app(request).pools().items()
    ]
    return _render(request, "Pools", table(["pool", "in use", "holders"], rows))


@pages.get("/ui/workflows")
def workflows(request: Request) -> Response:
    rows = []
    for name, w in _app(request).workflows_view().items():
        last = w["last_session"]
        rows.append(
            [
                link(f"/ui/workflows/{name}", name),
                e(w["status"]),
                str(w["sessions"]),
                f"{w['cost']:g}",
                e(last["status"] if last else "never ran"),
                pre(w["error"]) if w["error"] else "",
                action(f"/ui/workflows/{name}/trigger", "Trigger"),
            ]
        )
    return _render(
        request, "Workflows", table(["workflow", "status", "sessions", "cost", "last", "error", ""], rows)
    )


@pages.get("/ui/workflows/{name}")
def sessions(request: Request, name: str) -> Response:
    parts = []
    for s in _app(request).sessions(name, runs=True):
        runs = [
            [
                str(r["iteration"]),
                e(r["role"]),
                e(r["handler"]),
                e(r["status"]),
                e(r["cost"]),
                e(r["error"] or ""),
            ]
            for r in s.get("runs", [])
        ]
        parts.append(
            f"<h2>{link('/ui/jobs/' + s['id'], s['id'])} {status(s['status'])}</h2>"
            f"<p>{e(s['trigger'])}, iterations {s['iterations']}, cost {s['cost']:g}</p>"
            + table(["iteration", "role", "handler", "status", "cost", "error"], runs)
        )
    return _render(request, f"Workflow {name}", "".join(parts) or "<p>No sessions yet.</p>")


@pages.get("/ui/schedules")
def schedules(request: Request) -> Response:
    rows = [
        [
            e(s["name"]),
            e(s["cron"]),
            e(s["seconds"] or "0"),
            e(", ".join(s["next"])),
            e(s["kind"]),
            e(s["queue"]),
        ]
        for s in _app(request).schedules()
    ]
    return _render(
        request, "Schedules", table(["name", "cron", "seconds", "next slots (UTC)", "kind", "queue"], rows)
    )


# -- signing in and acting -------------------------------------------------------------------
@router.get("/ui/login")
def login_form(request: Request) -> Response:
    nxt = request.query_params.get("next", "/")
    body = (
        '<form method="post" action="/ui/login"><label>API token'
        '<input type="password" name="token" autocomplete="current-password" required autofocus></label>'
        f'<input type="hidden" name="next" value="{e(nxt)}"><button>Sign in</button></form>'
    )
    return HTMLResponse(page("Sign in", body, signed_in=False, live=False))


@router.post("/ui/login")
async def login(request: Request) -> Response:
    same_origin(request)  # no session yet to hold a CSRF token: the origin must match
    given = await form(request)
    token: str | None = request.app.state.token
    offered, nxt = given.get("token", ""), given.get("next", "/")
    if not token or not hmac.compare_digest(offered.encode(), token.encode()):
        why = "This daemon has no API token: the dashboard only reads." if not token else "Wrong token."
        return HTMLResponse(page("Sign in", f"<p>{e(why)}</p>", signed_in=False, live=False), status_code=401)
    cookie, _ = request.app.state.sessions.start()
    response = RedirectResponse(
        nxt if nxt.startswith("/") and not nxt.startswith("//") else "/", status_code=303
    )
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(request.app.state.sessions.ttl_s),
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@actions.post("/ui/logout")
def logout(request: Request) -> Response:
    current = session(request)
    if current is not None:
        request.app.state.sessions.end(current)
    response = RedirectResponse("/ui/login", status_code=303)
    response.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _back(to: str, note: str) -> Response:
    return RedirectResponse(f"{to}?{urlencode({'note': note})}", status_code=303)


@actions.post("/ui/jobs/{job_id}/{verb}")
def act(request: Request, job_id: str, verb: str) -> Response:
    if verb not in ("cancel", "retry"):
        return HTMLResponse("unknown action", status_code=404)
    app = _app(request)
    outcome = app.act(job_id, Cancel() if verb == "cancel" else Retry())
    if outcome.decision is None:
        note = f"cannot {verb}: {outcome.rejection}"
    else:  # read back: a retry whose dependency is still failed ends cancelled again
        now = app.job(job_id) or outcome.decision.job
        note = f"{verb}: {now.status.value}" + (f" ({now.error})" if now.cancelled_for else "")
    return _back(f"/ui/jobs/{job_id}", note)


@actions.post("/ui/queues/{name}/{verb}")
def queue_action(request: Request, name: str, verb: str) -> Response:
    app = _app(request)
    if verb == "pause":
        app.pause_queue(name)
    elif verb == "resume":
        app.resume_queue(name)
    else:
        return HTMLResponse("unknown action", status_code=404)
    return _back("/", f"queue {name}: {verb}d")


@actions.post("/ui/workflows/{name}/trigger")
def trigger(request: Request, name: str) -> Response:
    try:
        started = _app(request).trigger(name)
    except QrunError as exc:
        return _back("/ui/workflows", str(exc))
    return _back(f"/ui/jobs/{started}", "session started")


def refused(request: Request, exc: Exception) -> Response:
    """A refused action, as a page: what was wrong and what to do."""
    assert isinstance(exc, Refused)
    body = f"<p>{e(exc.why)}</p>"
    if exc.status_code == 401:
        body += '<p><a href="/ui/login">Sign in</a></p>'
    return HTMLResponse(page("Refused", body, signed_in=False, live=False), status_code=exc.status_code)


router.include_router(pages)
router.include_router(actions)
