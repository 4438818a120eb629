"""The leases a worker holds: renewed by elapsed time, a third of a lease apart (R-G3),
and distrusted when renewals keep failing, so a worker never acts on a run whose lease
may already have lapsed elsewhere."""

from __future__ import annotations

import logging
from collections.abc import Callable, MutableMapping
from datetime import timedelta

from returns.result import Success

from qrun.core import Heartbeat, Policy, decide
from qrun.core.ports import Clock, JobStore

from .inflight import InFlight, WorkerSettings

log = logging.getLogger("qrun.worker")


class Leases:
    def __init__(
        self,
        store: JobStore,
        worker: str,
        settings: WorkerSettings,
        *,
        policy: Policy,
        clock: Clock,
        monotonic: Callable[[], float],
    ) -> None:
        self.store, self.worker, self.settings = store, worker, settings
        self.policy, self.clock, self._mono = policy, clock, monotonic
        self._last_beat: float | None = None
        self._last_ok = monotonic()
        #: Renewals the store refused to answer (it was unreachable, say).
        self.failures_total = 0

    def fresh(self) -> None:
        """Leases were just taken with nothing else held: the next renewal is a third of
        a lease away."""
        self._last_beat = self._last_ok = self._mono()

    def due_in(self) -> float:
        """Seconds until the next renewal is due (0: now)."""
        since = self._mono() - (self._last_beat or 0.0)
        return max(self.settings.heartbeat_s - since, 0.0)

    def renew_now(self, inflight: MutableMapping[str, InFlight]) -> None:
        """Renew now, due or not (a simulation of time steps the renewals itself)."""
        self._last_beat = None
        self.renew_if_due(inflight)

    def renew_if_due(self, inflight: MutableMapping[str, InFlight]) -> None:
        """Renew every lease of `inflight` in one store call, if a renewal is due; forget
        each job whose lease the store did not renew (R-A4, R-G3)."""
        now_m = self._mono()
        if not inflight or (
            self._last_beat is not None and now_m - self._last_beat < self.settings.heartbeat_s
        ):
            return
        self._last_beat = now_m
        now = self.clock.now()
        until = now + timedelta(seconds=self.settings.lease_s)
        # The time since the last renewal, on the monotonic clock (a job claimed since then
        # is credited the whole of it: at most a third of a lease). No renewal can cover
        # more than a lease: a longer gap was not seen by a live holder.
        ran_s = min(max(now_m - self._last_ok, 0.0), self.settings.lease_s)
        try:
            kept = self.store.heartbeat(self.worker, list(inflight), lease_until=until, now=now, ran_s=ran_s)
        except Exception as exc:  # `trusted` decides what follows if it goes on failing
            self.failures_total += 1
            log.warning("renewing %d lease(s) failed (%s); retried at the next pass", len(inflight), exc)
            return
        self._last_ok = now_m
        for job_id, item in list(inflight.items()):
            renewed = decide(item.job, Heartbeat(self.worker, until, ran_s), now, self.policy)
            if job_id in kept and isinstance(renewed, Success):
                item.job = renewed.unwrap().job  # what the store wrote (the contract holds it to decide)
            else:
                del inflight[job_id]  # lost the lease: stop acting on it

    def trusted(self, inflight: MutableMapping[str, InFlight]) -> bool:
        """Renewals failing for two thirds of a lease: the leases may expire elsewhere
        soon, so forget every job and claim nothing until a renewal succeeds (R-G3)."""
        if inflight and self._mono() - self._last_ok > self.settings.lease_s * 2 / 3:
            log.warning(
                "leases not renewed for %.1fs: letting %d run(s) go",
                self._mono() - self._last_ok,
                len(inflight),
            )
            inflight.clear()
            return False
        return True
