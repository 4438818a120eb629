"""Workflows, sessions and topics (R-D1..R-D8)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from qrun.core.topics import EventStatus

from .deps import READ, WRITE, AppDep
from .models import PathName

router = APIRouter(dependencies=READ)


@router.get("/workflows")
def workflows(app: AppDep) -> dict[str, dict[str, Any]]:
    return app.workflows_view()


@router.get("/workflows/{name}/sessions")
def sessions(app: AppDep, name: PathName, runs: bool = False) -> list[dict[str, Any]]:
    return app.sessions(name, runs=runs)


@router.get("/sessions/{session_id}/runs")
def runs(app: AppDep, session_id: PathName) -> list[dict[str, Any]]:
    return app.session_runs(session_id)


@router.post("/workflows/{name}/trigger", status_code=201, dependencies=WRITE)
def trigger(app: AppDep, name: PathName) -> dict[str, str]:
    return {"session": app.trigger(name)}


@router.post("/workflows/{name}/pause", dependencies=WRITE)
def pause(app: AppDep, name: PathName) -> dict[str, Any]:
    app.pause_workflow(name)
    return {"workflow": name, "paused": True}


@router.post("/workflows/{name}/resume", dependencies=WRITE)
def resume(app: AppDep, name: PathName) -> dict[str, Any]:
    app.resume_workflow(name)
    return {"workflow": name, "paused": False}


@router.post("/topics/{topic}/events", status_code=201, dependencies=WRITE)
def publish(
    app: AppDep, topic: PathName, payload: Annotated[dict[str, Any] | None, Body()] = None
) -> dict[str, str]:
    return {"event": app.publish(topic, payload or {})}


@router.get("/topics/{topic}/events")
def events(
    app: AppDep,
    topic: PathName,
    status: EventStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> list[dict[str, Any]]:
    return [
        {
            "id": e.id,
            "status": e.status.value,
            "payload": dict(e.payload),
            "published_at": e.published_at.isoformat(),
            "deliveries": e.deliveries,
            "note": e.note,
        }
        for e in app.events(topic, status, limit=limit)
    ]
