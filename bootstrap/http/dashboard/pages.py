"""The dashboard's pages, each a template over the app's use cases, like every other
entry point reads. With a token configured, every page needs a session (`auth`)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import Response

from qrun.core import Status
from qrun.core.errors import QrunError
from qrun.core.ports import JobFilter

from ...app import App
from ...views import job_view
from .guard import session
from .render import app_of, render

PAGE = 50
STATUSES = [s.value for s in Status]


def _reader(request: Request) -> None:
    """Every page's gate: with a token configured, to the sign-in page without a session."""
    if request.app.state.token and session(request) is None:
        where = urlencode({"next": request.url.path}, safe="/")
        raise HTTPException(303, "sign in first", headers={"Location": f"/ui/login?{where}"})


pages = APIRouter(include_in_schema=False, dependencies=[Depends(_reader)])


@pages.get("/")
def overview(request: Request) -> Response:
    app = app_of(request)
    status_view = app.status()
    reaper, sanitizer = status_view["reaper"], status_view["sanitizer"]
    return render(
        request,
        "overview.html",
        "Overview",
        statuses=STATUSES,
        queues=app.queues(),
        rates=_rates(app),
        worker=status_view["worker"],
        reaper=reaper,
        sanitizer=sanitizer,
        repairs=[*reaper["last_reaped"], *sanitizer["last_repairs"]][:10],
        daemons=app.daemons(),
    )


def _rates(app: App) -> dict[str, Any]:
    ended = app.finished_recently(minutes=5)
    done = sum(n for (_, s), n in ended.items() if s is Status.DONE)
    failed = sum(n for (_, s), n in ended.items() if s is Status.FAILED)
    share = f"{100 * failed / (done + failed):.0f}%" if done + failed else "-"
    return {"done": done, "failed": failed, "per_minute": f"{(done + failed) / 5:.1f}", "share": share}


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
        return render(request, "jobs.html", "Jobs", unknown_status=True)
    found = app_of(request).jobs(where)
    if "text" in q:  # a substring of the id, kind or error, within the newest 2,000 that match
        text = q["text"].lower()
        found = [j for j in found if text in f"{j.id} {j.kind} {j.error or ''}".lower()][:PAGE]
    older = {**q, "after": found[-1].id} if len(found) == PAGE and "text" not in q else None
    return render(
        request, "jobs.html", "Jobs", unknown_status=False, statuses=STATUSES, q=q, jobs=found, older=older
    )


@pages.get("/ui/jobs/{job_id}")
def job(request: Request, job_id: str) -> Response:
    app = app_of(request)
    found = app.job(job_id)
    if found is None:
        return render(request, "message.html", "No such job", live=False, message=f"No job {job_id}.")
    view = job_view(found)
    since = found.history[-1].at if found.history else found.requested_at
    waits_for_time = found.status is Status.QUEUED and found.available_at > since
    try:
        out, err = app.logs(job_id)
        logs: dict[str, Any] = {"logs_refused": None, "stdout": _tail(out), "stderr": _tail(err)}
    except QrunError as exc:
        logs = {"logs_refused": str(exc)}
    return render(
        request,
        "job.html",
        f"Job {job_id}",
        job=found,
        can_retry=found.status in (Status.FAILED, Status.CANCELLED),
        reasons=app.waiting(found),
        available_from=found.available_at if waits_for_time else None,
        payload=json.dumps(view["payload"], indent=2),
        result=json.dumps(found.result, indent=2),
        follow_up=json.dumps(view["follow_up"]) if view.get("follow_up") else None,
        **logs,
    )


def _tail(data: bytes) -> str:
    return data[-4000:].decode(errors="replace")


@pages.get("/ui/batches/{batch_id}")
def batch(request: Request, batch_id: str) -> Response:
    summary = app_of(request).batch(batch_id)
    counts = ", ".join(
        f"{s.value} {n}" for s, n in sorted(summary.counts.items(), key=lambda kv: kv[0].value)
    )
    d = summary.durations
    times = f"; durations min {d.min_s:.2f}s median {d.median_s:.2f}s max {d.max_s:.2f}s" if d else ""
    return render(
        request,
        "batch.html",
        f"Batch {batch_id}",
        summary=summary,
        counts=counts,
        times=times,
        batch_id=batch_id,
    )


@pages.get("/ui/pools")
def pools(request: Request) -> Response:
    return render(request, "pools.html", "Pools", pools=app_of(request).pools())


@pages.get("/ui/workflows")
def workflows(request: Request) -> Response:
    return render(request, "workflows.html", "Workflows", workflows=app_of(request).workflows_view())


@pages.get("/ui/workflows/{name}")
def sessions(request: Request, name: str) -> Response:
    found = app_of(request).sessions(name, runs=True)
    return render(request, "sessions.html", f"Workflow {name}", sessions=found)


@pages.get("/ui/schedules")
def schedules(request: Request) -> Response:
    return render(request, "schedules.html", "Schedules", schedules=app_of(request).schedules())
