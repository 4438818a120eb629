"""Jobs: submit, list, show, cancel and retry."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Query

from qrun.core import Cancel, Retry, Status
from qrun.core.ports import JobFilter

from ..app import App
from ..views import job_view
from .deps import READ, WRITE, AppDep
from .models import PathName, QueryName, SubmitBody

router = APIRouter(dependencies=READ)


@router.get("/jobs")
def jobs(
    app: AppDep,
    status: Annotated[Status | None, Query()] = None,
    queue: QueryName = None,
    batch: QueryName = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[str | None, Query(description="the last id of the previous page")] = None,
    order: Annotated[
        Literal["newest", "oldest", "id"], Query(description="by submit time (then id), or by id")
    ] = "newest",
) -> list[dict[str, Any]]:
    where = JobFilter(
        status=status,
        queue=queue,
        batch=batch,
        limit=limit,
        after=after,
        newest_first=order == "newest",
        oldest_first=order == "oldest",
    )
    return [job_view(j) for j in app.jobs(where)]


@router.get("/jobs/{job_id}")
def job(app: AppDep, job_id: PathName) -> dict[str, Any]:
    found = app.job(job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id}")
    return {**job_view(found), "waiting": list(app.waiting(found))}  # why it is not running


@router.post("/jobs", status_code=201, dependencies=WRITE)
def submit(app: AppDep, body: SubmitBody) -> dict[str, str]:
    options = body.model_dump(exclude={"kind", "payload", "unique_finished"})
    options["unique_finished"] = [s.value for s in body.unique_finished]
    return {"id": app.submit(body.kind, body.payload, **options)}


def _act(app: App, job_id: PathName, event: Cancel | Retry) -> dict[str, str]:
    outcome = app.act(job_id, event)
    if outcome.decision is None:
        if outcome.rejection is None:
            raise HTTPException(404, f"no job {job_id}")
        raise HTTPException(409, str(outcome.rejection))
    now = app.job(job_id) or outcome.decision.job  # a retry may end cancelled again (its dependency)
    return {"id": job_id, "status": now.status.value}


@router.post("/jobs/{job_id}/cancel", dependencies=WRITE)
def cancel(app: AppDep, job_id: PathName) -> dict[str, str]:
    return _act(app, job_id, Cancel())


@router.post("/jobs/{job_id}/retry", dependencies=WRITE)
def retry(app: AppDep, job_id: PathName) -> dict[str, str]:
    return _act(app, job_id, Retry())
