"""Queues, schedules, retention and the health of the store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from qrun.core import Status
from qrun.core.ports import DaemonRegistry, JobFilter
from qrun.core.retention import expired

from ..doctor import Finding, examine
from ..runtime.paging import all_jobs
from ..views import daemon_view, queues_view, repair_view, schedules_view
from .base import Parts


class QueueCases(Parts):
    def pause_queue(self, queue: str) -> None:
        """Its jobs stay; none is handed out until `resume_queue` (R-F3)."""
        self.store.pause(queue)

    def resume_queue(self, queue: str) -> None:
        self.store.resume(queue)

    def queues(self) -> dict[str, dict[str, Any]]:
        """Each queue's job counts per status, and whether it is paused."""
        return queues_view(self.store)

    def counts(self) -> dict[tuple[str, Status], int]:
        return dict(self.store.counts())

    def finished_recently(self, minutes: float) -> dict[tuple[str, Status], int]:
        """Jobs that ended in the last `minutes`, per (queue, status), counted by the store."""
        return dict(self.store.finished_counts(self.clock.now() - timedelta(minutes=minutes)))

    def daemons(self) -> list[dict[str, Any]]:
        """The daemons that reported in the last three reaper intervals, on every host:
        where they run and how many of their slots are in use (R-F4)."""
        if not isinstance(self.store, DaemonRegistry):
            return []
        now = self.clock.now()
        return [daemon_view(d, now) for d in self.store.daemons(self.config.live_since(now))]

    def paused_queues(self) -> list[str]:
        return sorted(self.store.paused())

    def schedules(self) -> list[dict[str, Any]]:
        """Periodic jobs with each one's next slot (UTC)."""
        return schedules_view(self.scheduler, self.clock.now())

    def prune(self, *, max_batches: int = 100) -> int:
        """Delete finished jobs past retention now, in bounded batches; how many."""
        return self.pruner.tick(max_batches=max_batches)

    def past_retention(self) -> int:
        """How many finished jobs retention would prune (those others depend on are kept)."""
        now, keep = self.clock.now(), self.pruner.keep
        return sum(1 for s in keep for j in all_jobs(self.store, s) if expired(j, keep, now))

    def doctor(self) -> tuple[int, list[Finding]]:
        """How many jobs the store holds, and what among them needs care. Opening the store
        checked the database and its schema version already."""
        return sum(self.store.counts().values()), examine(self.store, self.clock.now())

    def health(self) -> dict[str, Any]:
        """Raises if the store cannot be reached."""
        self.store.counts()
        return {"ok": True, "worker": self.worker.id}

    def status(self) -> dict[str, Any]:
        """What this daemon's loops have done: counts, reaper, sanitizer, pruner, scheduler
        and worker."""
        counts: dict[str, dict[str, int]] = {}
        for (q, status), n in self.store.counts().items():
            counts.setdefault(q, {})[status.value] = n
        r, s = self.reaper, self.sanitizer
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
            "paused": sorted(self.store.paused()),
            "pruner": {"pruned_total": self.pruner.pruned_total},
            "scheduler": {
                "schedules": len(self.scheduler.schedules),
                "fired_total": self.scheduler.fired_total,
                "errors_total": self.scheduler.errors_total,
            },
            "worker": {
                "id": self.worker.id,
                "slots": self.worker.slots,
                "inflight": sorted(self.worker.inflight.copy()),
            },
        }

    def oldest_queued_ages(self) -> dict[str, float]:
        """Per queue with queued jobs, how long its oldest has waited since it was
        submitted, in seconds (ids grow with time: the first by id is the oldest)."""
        now, out = self.clock.now(), {}
        for queue in sorted(
            {q for (q, status), n in self.store.counts().items() if status is Status.QUEUED and n}
        ):
            oldest = self.store.list(JobFilter(status=Status.QUEUED, queue=queue, limit=1))
            if oldest:
                out[queue] = max(0.0, (now - oldest[0].requested_at).total_seconds())
        return out

    def totals(self) -> dict[str, int]:
        """This daemon's counters since it started, for metrics."""
        return {
            "reaped": self.reaper.reaped_total,
            "reaper_errors": self.reaper.errors_total,
            "impossible_queued": self.sanitizer.impossible_queued_total,
            "pruned": self.pruner.pruned_total,
            "spawn_failures": self.worker.spawn_failures_total,
            "schedule_fired": self.scheduler.fired_total,
            "inflight": len(self.worker.inflight),
            "free_slots": max(0, self.worker.slots - len(self.worker.inflight)),
        }
