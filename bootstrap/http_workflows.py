"""The HTTP routes of workflows, sessions and topics (R-D1..R-D8)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Body, Depends, FastAPI, HTTPException
from qrun.core.ports import StoreError
from qrun.core.topics import EventStatus

from .app import App
from .workflow_views import run_view, sessions_view, workflows_view


def add_workflow_routes(api: FastAPI, app: App, writer: Callable[..., None]) -> None:
    store: Any = app.store

    @api.get("/workflows")
    def workflows() -> dict[str, dict[str, Any]]:
        return workflows_view(store, app.workflows)

    @api.get("/workflows/{name}/sessions")
    def sessions(name: str, runs: bool = False) -> list[dict[str, Any]]:
        return sessions_view(store, name, runs=runs)

    @api.get("/sessions/{session_id}/runs")
    def runs(session_id: str) -> list[dict[str, Any]]:
        return [run_view(r) for r in store.handler_runs(session_id)]

    @api.post("/workflows/{name}/trigger", status_code=201, dependencies=[Depends(writer)])
    def trigger(name: str) -> dict[str, str]:
        try:
            return {"session": app.trigger(name)}
        except (StoreError, ValueError) as exc:
            raise HTTPException(404, str(exc)) from None

    @api.post("/workflows/{name}/pause", dependencies=[Depends(writer)])
    def pause(name: str) -> dict[str, Any]:
        app.pause_workflow(name)
        return {"workflow": name, "paused": True}

    @api.post("/workflows/{name}/resume", dependencies=[Depends(writer)])
    def resume(name: str) -> dict[str, Any]:
        app.resume_workflow(name)
        return {"workflow": name, "paused": False}

    @api.post("/topics/{topic}/events", status_code=201, dependencies=[Depends(writer)])
    def publish(topic: str, payload: dict[str, Any] = Body(default_factory=dict)) -> dict[str, str]:  # noqa: B008
        try:
            return {"event": app.publish(topic, payload)}
        except (StoreError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None

    @api.get("/topics/{topic}/events")
    def events(topic: str, status: EventStatus | None = None, limit: int = 100) -> list[dict[str, Any]]:
        return [
            {
                "id": e.id,
                "status": e.status.value,
                "payload": dict(e.payload),
                "published_at": e.published_at.isoformat(),
                "deliveries": e.deliveries,
                "note": e.note,
            }
            for e in store.events(topic, status, limit=limit)
        ]
