"""The HTTP routes of batches and pools (R-E1, R-E3)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, FastAPI, HTTPException
from qrun.core.ports import StoreError

from .app import App
from .http_models import BatchBody
from .views import batch_view, pools_view


def add_batch_routes(api: FastAPI, app: App, writer: Callable[..., None]) -> None:
    @api.get("/pools")
    def pools() -> dict[str, dict[str, Any]]:
        return pools_view(app.store)

    @api.post("/batches", status_code=201, dependencies=[Depends(writer)])
    def submit_batch(body: BatchBody) -> dict[str, str]:
        items = []
        for item in body.jobs:
            spec = item.model_dump(exclude={"unique_finished", "batch"})
            spec["unique_finished"] = [s.value for s in item.unique_finished]
            items.append(spec)
        try:
            return {"batch": app.submit_batch(items, batch=body.batch)}
        except (StoreError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None

    @api.get("/batches/{batch_id}")
    def batch(batch_id: str) -> dict[str, Any]:
        summary = app.batch(batch_id)
        if summary.total == 0:
            raise HTTPException(404, f"batch {batch_id} has no jobs (never submitted, or cleared)")
        return batch_view(summary)

    @api.delete("/batches/{batch_id}", dependencies=[Depends(writer)])
    def clear_batch(batch_id: str) -> dict[str, int]:
        try:
            return {"cleared": app.clear_batch(batch_id)}
        except StoreError as exc:
            raise HTTPException(409, str(exc)) from None
