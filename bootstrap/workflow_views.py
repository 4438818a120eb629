"""Workflows, their sessions, handler runs and costs as plain JSON, for the CLI and the
HTTP API (R-D2, R-D7). Read from the store, so any process can show them."""

from __future__ import annotations

from typing import Any

from qrun.core import Job
from qrun.core.ports import JobFilter
from qrun.core.workflow import SESSION_KIND, HandlerRun, session_cost, session_queue

from .runtime.workflows import Workflows


def _sessions(store: Any, workflow: str | None = None) -> list[Job]:
    out: list[Job] = []
    after = None
    while page := store.list(JobFilter(kind=SESSION_KIND, limit=500, after=after)):
        out += [j for j in page if workflow is None or j.payload.get("workflow") == workflow]
        after = page[-1].id
    return out


def run_view(run: HandlerRun) -> dict[str, Any]:
    return {
        "iteration": run.iteration,
        "handler": run.handler,
        "role": run.role.value,
        "status": run.status.value,
        "cost": run.cost,
        "error": run.error,
        "started_at": run.started_at.isoformat() if run.started_at else None,
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }


def session_view(store: Any, job: Job, *, runs: bool = False) -> dict[str, Any]:
    stored = store.handler_runs(job.id)
    result = job.result if isinstance(job.result, dict) else {}
    view: dict[str, Any] = {
        "id": job.id,
        "workflow": job.payload.get("workflow"),
        "trigger": job.payload.get("trigger"),
        "status": {"done": "completed"}.get(job.status.value, job.status.value),
        "requested_at": job.requested_at.isoformat(),
        "started_at": job.started_at.isoformat() if job.started_at else None,
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "cost": session_cost(stored),
        "iterations": max((r.iteration for r in stored), default=0),
        "reason": result.get("reason"),
        "error": job.error,
        "attempts": job.attempts,
    }
    if runs:
        view["runs"] = [run_view(r) for r in stored]
    return view


def sessions_view(store: Any, workflow: str, *, runs: bool = False) -> list[dict[str, Any]]:
    return [session_view(store, j, runs=runs) for j in _sessions(store, workflow)]


def workflows_view(store: Any, defined: Workflows | None = None) -> dict[str, dict[str, Any]]:
    """Every workflow defined here or seen in the store: its status (active, paused or
    error), its sessions and their total cost."""
    paused, errors = store.paused(), store.workflow_errors()
    names = set(defined.workflows if defined else ())
    names |= errors.keys() | {q.removeprefix("workflow.") for q in paused if q.startswith("workflow.")}
    sessions = _sessions(store)
    names |= {str(j.payload.get("workflow")) for j in sessions}
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(names):
        mine = [j for j in sessions if j.payload.get("workflow") == name]
        last = max(mine, key=lambda j: (j.requested_at, j.id), default=None)
        status = "paused" if session_queue(name) in paused else "error" if name in errors else "active"
        view: dict[str, Any] = {
            "status": status,
            "error": errors[name][0] if name in errors else None,
            "sessions": len(mine),
            "last_session": session_view(store, last) if last else None,
            "cost": sum(session_cost(store.handler_runs(j.id)) for j in mine),
        }
        wf = defined.workflows.get(name) if defined else None
        if wf is not None:
            view.update(
                producers=list(wf.spec.producers),
                consumers=list(wf.spec.consumers),
                topic=wf.spec.topic,
                max_iterations=wf.spec.max_iterations,
                schedule=wf.schedule,
                on_event=wf.on_event,
            )
        out[name] = view
    return out
