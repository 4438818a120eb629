"""Jobs and repairs as plain JSON, for the CLI and the HTTP API alike."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cattrs.preconf.json import make_converter

from qrun.core import BatchSummary, Job, Step
from qrun.core.daemons import DaemonSeen
from qrun.core.ports import JobStore

from .runtime.periodic import Scheduler
from .runtime.reaper import Repair

_json = make_converter()
_json.register_unstructure_hook(
    Step,
    lambda s: {
        "at": s.at.isoformat(),
        "event": s.event,
        "status": s.status.value,
        "attempt": s.attempt,
        "worker": s.worker,
        "note": s.note,
    },
)


REDACTED = "<redacted>"


def job_view(job: Job) -> dict[str, Any]:
    """A job as JSON, its environment's values left out: they are where secrets go."""
    data: dict[str, Any] = _json.unstructure(job)
    data["status"] = job.status.value
    env = data["payload"].get("env")
    if isinstance(env, dict):
        data["payload"] = {**data["payload"], "env": dict.fromkeys(env, REDACTED)}
    return data


def queues_view(store: JobStore) -> dict[str, dict[str, Any]]:
    paused = store.paused()
    out: dict[str, dict[str, Any]] = {q: {"paused": True, "counts": {}} for q in paused}
    for (q, status), n in store.counts().items():
        out.setdefault(q, {"paused": q in paused, "counts": {}})["counts"][status.value] = n
    return dict(sorted(out.items()))


def schedules_view(scheduler: Scheduler, now: datetime) -> list[dict[str, Any]]:
    return [
        {
            "name": p.name,
            "cron": p.cron,
            "seconds": p.seconds,
            "next": [slot.isoformat() for slot in p.next_slots(now)],
            "kind": p.template.kind,
            "payload": dict(p.template.payload),
            "queue": p.template.queue,
        }
        for p in sorted(scheduler.schedules.values(), key=lambda p: p.name)
    ]


def repair_view(repair: Repair) -> dict[str, Any]:
    return {"job_id": repair.job_id, "found": repair.found, "done": repair.done, "at": repair.at.isoformat()}


def batch_view(summary: BatchSummary) -> dict[str, Any]:
    d = summary.durations
    return {
        "batch": summary.batch,
        "total": summary.total,
        "counts": {s.value: n for s, n in sorted(summary.counts.items(), key=lambda kv: kv[0].value)},
        "complete": summary.complete,
        "succeeded": summary.succeeded,
        "durations_s": None
        if d is None
        else {"count": d.count, "min": d.min_s, "median": d.median_s, "max": d.max_s, "total": d.total_s},
    }


def daemon_view(daemon: DaemonSeen, now: datetime) -> dict[str, Any]:
    return {
        "id": daemon.id,
        "name": daemon.name,
        "host": daemon.host,
        "pid": daemon.pid,
        "slots": daemon.slots,
        "running": daemon.running,
        "queues": list(daemon.queues) if daemon.queues is not None else None,
        "started_at": daemon.started_at.isoformat(),
        "seen_s_ago": round((now - daemon.seen_at).total_seconds(), 1),
    }


def pools_view(store: JobStore) -> dict[str, dict[str, Any]]:
    return {
        name: {
            "size": p.size,
            "in_use": p.in_use,
            "holders": {str(k): v for k, v in sorted(p.holders.items())},
        }
        for name, p in store.pools().items()
    }
