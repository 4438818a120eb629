"""Batches and pools (R-E1, R-E3)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from ..views import batch_view
from .deps import READ, WRITE, AppDep
from .models import BatchBody, PathName

router = APIRouter(dependencies=READ)


@router.get("/pools")
def pools(app: AppDep) -> dict[str, dict[str, Any]]:
    return app.pools()


@router.post("/batches", status_code=201, dependencies=WRITE)
def submit_batch(app: AppDep, body: BatchBody) -> dict[str, str]:
    items = []
    for item in body.jobs:
        spec = item.model_dump(exclude={"unique_finished", "batch"})
        spec["unique_finished"] = [s.value for s in item.unique_finished]
        items.append(spec)
    return {"batch": app.submit_batch(items, batch=body.batch)}


@router.get("/batches/{batch_id}")
def batch(app: AppDep, batch_id: PathName) -> dict[str, Any]:
    summary = app.batch(batch_id)
    if summary.total == 0:
        raise HTTPException(404, f"batch {batch_id} has no jobs (never submitted, or cleared)")
    return batch_view(summary)


@router.delete("/batches/{batch_id}", dependencies=WRITE)
def clear_batch(app: AppDep, batch_id: PathName) -> dict[str, int]:
    return {"cleared": app.clear_batch(batch_id)}  # refused while a job is open: 409
