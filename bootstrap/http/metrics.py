"""Prometheus metrics, read from the app at scrape time: nothing to keep in sync, no
background thread."""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from ..app import App
from .deps import READ

router = APIRouter(dependencies=READ)

_COUNTERS = {
    "reaped": ("qrun_reaped", "Jobs reaped"),
    "reaper_errors": ("qrun_reaper_errors", "Reaper errors"),
    "impossible_queued": ("qrun_impossible_queued", "Impossible queued jobs healed"),
    "pruned": ("qrun_pruned", "Finished jobs pruned"),
    "spawn_failures": ("qrun_spawn_failures", "Runs this daemon could not start"),
    "schedule_fired": ("qrun_schedule_fired", "Schedule slots fired"),
}


class _Collector:
    def __init__(self, app: App) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        jobs = GaugeMetricFamily("qrun_jobs", "Jobs by queue and status", labels=["queue", "status"])
        for (queue, status), n in sorted(
            self.app.counts().items(), key=lambda kv: (kv[0][0], kv[0][1].value)
        ):
            jobs.add_metric([queue, status.value], n)
        yield jobs
        totals = self.app.totals()
        for key, (name, text) in _COUNTERS.items():
            yield CounterMetricFamily(name, text, value=totals[key])
        paused = GaugeMetricFamily("qrun_queue_paused", "1 if the queue is paused", labels=["queue"])
        for q in self.app.paused_queues():
            paused.add_metric([q], 1)
        yield paused
        yield GaugeMetricFamily("qrun_worker_inflight", "Runs this worker holds", value=totals["inflight"])
        yield GaugeMetricFamily(
            "qrun_worker_free_slots", "Slots this worker has free", value=totals["free_slots"]
        )
        oldest = GaugeMetricFamily(
            "qrun_oldest_queued_age_seconds",
            "How long the oldest queued job of a queue has waited",
            labels=["queue"],
        )
        for queue, age in self.app.oldest_queued_ages().items():
            oldest.add_metric([queue], age)
        yield oldest


def registry_for(app: App) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Collector(app))
    return registry


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request) -> Response:
    registry: CollectorRegistry = request.app.state.metrics
    app: App = request.app.state.qrun
    body = generate_latest(registry) + generate_latest(app.job_metrics.registry)
    return Response(body, media_type="text/plain; version=0.0.4")
