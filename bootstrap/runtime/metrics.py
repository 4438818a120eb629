"""What the daemon saw happen to jobs, for Prometheus: how long they waited and ran, per
queue and kind, and how they ended. Fed by every winning decision the daemon carries out
(`Effects.observe`), so it costs a few increments per job and no query."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from qrun.core import AdoptRun, Decision, Spawn, Status

#: From a few milliseconds to a day: queue waits and run times both span that.
BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 24 * 3600)


class JobMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        labels = ("queue", "kind")
        self.wait = Histogram(
            "qrun_queue_wait_seconds",
            "From a job being ready to its run starting",
            labels,
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.run = Histogram(
            "qrun_run_duration_seconds",
            "From a run starting to its job ending",
            labels,
            buckets=BUCKETS,
            registry=self.registry,
        )
        self.outcomes = Counter(
            "qrun_jobs_finished",
            "Jobs that ended, by outcome (done, failed, cancelled)",
            (*labels, "outcome"),
            registry=self.registry,
        )
        self.retries = Counter("qrun_job_retries", "Failed runs queued again", labels, registry=self.registry)
        self.adoptions = Counter(
            "qrun_adoptions", "Live runs adopted after their worker died", labels, registry=self.registry
        )

    def observe(self, decision: Decision) -> None:
        job = decision.job
        labels = (job.queue, job.kind)
        for effect in decision.external:
            if isinstance(effect, Spawn) and job.started_at is not None:
                self.wait.labels(*labels).observe(
                    max(0.0, (job.started_at - job.available_at).total_seconds())
                )
            elif isinstance(effect, AdoptRun):
                self.adoptions.labels(*labels).inc()
        if job.status.terminal and job.finished_at is not None:
            self.outcomes.labels(*labels, job.status.value).inc()
            if job.started_at is not None and job.status is not Status.CANCELLED:
                self.run.labels(*labels).observe(max(0.0, (job.finished_at - job.started_at).total_seconds()))
        elif job.status is Status.QUEUED and job.attempts > 0 and job.error is not None and job.run is None:
            self.retries.labels(*labels).inc()
