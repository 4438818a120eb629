"""The HTTP API served by `qrun serve` (127.0.0.1 by default): status, jobs, Prometheus
metrics, health; submit / cancel / retry only with the configured bearer token. FastAPI
publishes the OpenAPI document at /openapi.json."""

from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, HTTPException, Query, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from qrun.core import Cancel, Retry, Status
from qrun.core.ports import JobFilter, StoreError

from .app import App
from .http_batches import add_batch_routes
from .http_models import SubmitBody
from .http_workflows import add_workflow_routes
from .views import job_view, queues_view, repair_view, schedules_view


class _Collector:
    """Reads the app at scrape time: nothing to keep in sync, no background thread."""

    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("qrun_jobs", "Jobs by queue and status", labels=["queue", "status"])
        for (queue, status), n in sorted(
            self.app.store.counts().items(), key=lambda kv: (kv[0][0], kv[0][1].value)
        ):
            jobs.add_metric([queue, status.value], n)
        yield jobs
        yield CounterMetricFamily("qrun_reaped", "Jobs reaped", value=self.app.reaper.reaped_total)
        yield CounterMetricFamily("qrun_reaper_errors", "Reaper errors", value=self.app.reaper.errors_total)
        yield CounterMetricFamily(
            "qrun_impossible_queued",
            "Impossible queued jobs healed",
            value=self.app.sanitizer.impossible_queued_total,
        )
        yield CounterMetricFamily("qrun_pruned", "Finished jobs pruned", value=self.app.pruner.pruned_total)
        yield CounterMetricFamily(
            "qrun_spawn_failures",
            "Runs this daemon could not start",
            value=self.app.worker.spawn_failures_total,
        )
        yield CounterMetricFamily(
            "qrun_schedule_fired", "Schedule slots fired", value=self.app.scheduler.fired_total
        )
        paused = GaugeMetricFamily("qrun_queue_paused", "1 if the queue is paused", labels=["queue"])
        for q in sorted(self.app.store.paused()):
            paused.add_metric([q], 1)
        yield paused
        yield GaugeMetricFamily(
            "qrun_worker_inflight", "Runs this worker holds", value=len(self.app.worker.inflight)
        )


def create_api(app: App, *, token: str | None) -> FastAPI:
    api = FastAPI(title="qrun", summary="durable job execution", version="0.1.0")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(app))

    def writer(authorization: Annotated[str | None, Header()] = None) -> None:
        if not token:
            raise HTTPException(403, "writes are disabled: set QRUN_API_TOKEN to enable them")
        given = (authorization or "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "a valid 'Authorization: Bearer <token>' header is required")

    @api.get("/healthz")
    def healthz() -> dict[str, Any]:
        try:
            app.store.counts()
        except Exception as exc:
            raise HTTPException(503, f"store unreachable: {exc}") from None
        return {"ok": True, "worker": app.worker.id}

    @api.get("/queue")
    def queue() -> dict[str, Any]:
        counts: dict[str, dict[str, int]] = {}
        for (q, status), n in app.store.counts().items():
            counts.setdefault(q, {})[status.value] = n
        r, s = app.reaper, app.sanitizer
        return {
            "counts": counts,
            "reaper": {
                "enabled": r.enabled,
                "reaped_total": r.reaped_total,
                "errors_total": r.errors_total,
                "last_reaped": [repair_view(x) for x in r.last_reaped],
                "last_run": r.last_run.isoformat() if r.last_run else None,
            },
            "sanitizer": {
                "enabled": s.enabled,
                "impossible_queued_total": s.impossible_queued_total,
                "healed_total": s.healed_total,
                "last_repairs": [repair_view(x) for x in s.last_repairs],
                "last_run": s.last_run.isoformat() if s.last_run else None,
            },
            "paused": sorted(app.store.paused()),
            "pruner": {"pruned_total": app.pruner.pruned_total},
            "scheduler": {
                "schedules": len(app.scheduler.schedules),
                "fired_total": app.scheduler.fired_total,
                "errors_total": app.scheduler.errors_total,
            },
            "worker": {
                "id": app.worker.id,
                "slots": app.worker.slots,
                "inflight": sorted(app.worker.inflight.copy()),
            },
        }

    @api.get("/queues")
    def queues() -> dict[str, dict[str, Any]]:
        return queues_view(app.store)

    @api.post("/queues/{name}/pause", dependencies=[Depends(writer)])
    def pause(name: str) -> dict[str, Any]:
        app.store.pause(name)
        return {"queue": name, "paused": True}

    @api.post("/queues/{name}/resume", dependencies=[Depends(writer)])
    def resume(name: str) -> dict[str, Any]:
        app.store.resume(name)
        return {"queue": name, "paused": False}

    @api.get("/schedules")
    def schedules() -> list[dict[str, Any]]:
        return schedules_view(app.scheduler, app.clock.now())

    @api.post("/prune", dependencies=[Depends(writer)])
    def prune() -> dict[str, int]:
        return {"pruned": app.pruner.tick()}

    @api.get("/jobs")
    def jobs(
        status: Annotated[Status | None, Query()] = None,
        queue: str | None = None,
        batch: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        after: str | None = None,
    ) -> list[dict[str, Any]]:
        where = JobFilter(status=status, queue=queue, batch=batch, limit=limit, after=after)
        found = app.store.list(where)
        return [job_view(j) for j in found]

    @api.get("/jobs/{job_id}")
    def job(job_id: str) -> dict[str, Any]:
        found = app.store.get(job_id)
        if found is None:
            raise HTTPException(404, f"no job {job_id}")
        return job_view(found)

    @api.get("/metrics")
    def metrics() -> Response:
        return Response(generate_latest(registry), media_type="text/plain; version=0.0.4")

    @api.post("/jobs", status_code=201, dependencies=[Depends(writer)])
    def submit(body: SubmitBody) -> dict[str, str]:
        options = body.model_dump(exclude={"kind", "payload", "unique_finished"})
        options["unique_finished"] = [s.value for s in body.unique_finished]
        try:
            return {"id": app.submit(body.kind, body.payload, **options)}
        except (StoreError, ValueError) as exc:
            raise HTTPException(422, str(exc)) from None

    add_batch_routes(api, app, writer)
    add_workflow_routes(api, app, writer)

    def act(job_id: str, event: Cancel | Retry) -> dict[str, str]:
        outcome = app.act(job_id, event)
        if outcome.decision is None:
            if outcome.rejection is None:
                raise HTTPException(404, f"no job {job_id}")
            raise HTTPException(409, str(outcome.rejection))
        return {"id": job_id, "status": outcome.decision.job.status.value}

    @api.post("/jobs/{job_id}/cancel", dependencies=[Depends(writer)])
    def cancel(job_id: str) -> dict[str, str]:
        return act(job_id, Cancel())

    @api.post("/jobs/{job_id}/retry", dependencies=[Depends(writer)])
    def retry(job_id: str) -> dict[str, str]:
        return act(job_id, Retry())

    return api
