"""Health, the daemon's status, queues, schedules and retention."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from .deps import READ, WRITE, AppDep
from .models import PathName

router = APIRouter(dependencies=READ)
#: For load balancers and probes: no token, and nothing but whether the store answers.
health = APIRouter()


@health.get("/healthz")
def healthz(app: AppDep) -> dict[str, Any]:
    try:
        return app.health()
    except Exception as exc:
        raise HTTPException(503, f"store unreachable: {exc}") from None


@router.get("/queue")
def queue(app: AppDep) -> dict[str, Any]:
    return app.status()


@router.get("/daemons")
def daemons(app: AppDep) -> list[dict[str, Any]]:
    """Live daemons on every host sharing this database, with their slots in use."""
    return app.daemons()


@router.get("/queues")
def queues(app: AppDep) -> dict[str, dict[str, Any]]:
    return app.queues()


@router.post("/queues/{name}/pause", dependencies=WRITE)
def pause(app: AppDep, name: PathName) -> dict[str, Any]:
    app.pause_queue(name)
    return {"queue": name, "paused": True}


@router.post("/queues/{name}/resume", dependencies=WRITE)
def resume(app: AppDep, name: PathName) -> dict[str, Any]:
    app.resume_queue(name)
    return {"queue": name, "paused": False}


@router.get("/schedules")
def schedules(app: AppDep) -> list[dict[str, Any]]:
    return app.schedules()


@router.post("/prune", dependencies=WRITE)
def prune(app: AppDep) -> dict[str, int]:
    return {"pruned": app.prune()}
