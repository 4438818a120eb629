"""What the dashboard can do: cancel or retry a job, pause or resume a queue, trigger a
workflow. Each is a form POST that must come from the dashboard's own pages, in a live
session, with that session's CSRF token (`guard`); without a token nothing acts."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from qrun.core import Cancel, Retry
from qrun.core.errors import QrunError

from .guard import guard
from .render import app_of

actions = APIRouter(include_in_schema=False, dependencies=[Depends(guard)])


def _back(to: str, note: str) -> Response:
    return RedirectResponse(f"{to}?{urlencode({'note': note})}", status_code=303)


@actions.post("/ui/jobs/{job_id}/{verb}")
def act(request: Request, job_id: str, verb: str) -> Response:
    if verb not in ("cancel", "retry"):
        return HTMLResponse("unknown action", status_code=404)
    app = app_of(request)
    outcome = app.act(job_id, Cancel() if verb == "cancel" else Retry())
    if outcome.decision is None:
        note = f"cannot {verb}: {outcome.rejection}"
    else:  # read back: a retry whose dependency is still failed ends cancelled again
        now = app.job(job_id) or outcome.decision.job
        note = f"{verb}: {now.status.value}" + (f" ({now.error})" if now.cancelled_for else "")
    return _back(f"/ui/jobs/{job_id}", note)


@actions.post("/ui/queues/{name}/{verb}")
def queue_action(request: Request, name: str, verb: str) -> Response:
    app = app_of(request)
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
        started = app_of(request).trigger(name)
    except QrunError as exc:
        return _back("/ui/workflows", str(exc))
    return _back(f"/ui/jobs/{started}", "session started")
