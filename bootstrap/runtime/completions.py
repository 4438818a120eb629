"""How the runs a worker holds end: collected from the runners (a callback, or a poll of
the runs no runner watches), batched for one write, and read as the event to decide."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from typing import cast

from qrun.core import Failed, Finished, OrphanPolicy
from qrun.core.decide import orphan_stop
from qrun.core.ports import ExitWatch

from .inflight import InFlight, WorkerSettings
from .runners import Runners


class Completions:
    def __init__(
        self,
        runners: Runners,
        settings: WorkerSettings,
        wake: threading.Event,
        monotonic: Callable[[], float],
    ) -> None:
        self.runners, self.settings, self.wake, self._mono = runners, settings, wake, monotonic
        self._ended: deque[str] = deque()

    def watch(self, item: InFlight) -> None:
        """Be told when `item`'s run ends, where its runner can tell (else it is polled)."""
        if self.runners.watches(item.runner):
            watcher = cast(ExitWatch, item.runner)
            job_id = item.job.id

            def ended() -> None:
                self._ended.append(job_id)
                self.wake.set()

            item.watched = watcher.on_exit(item.handle, ended)
        if item.exit is not None:  # it had ended already (an adopted run found over)
            self.wake.set()

    def collect(self, inflight: Mapping[str, InFlight]) -> bool:
        """Exits of the runs that ended: those whose runner called back, and a poll of
        the ones no runner watches. Whether any was collected."""
        ended: set[str] = set()
        while self._ended:
            ended.add(self._ended.popleft())
        now_m = self._mono()
        collected = False
        for job_id, item in inflight.items():
            if item.exit is not None or (item.watched and job_id not in ended):
                continue
            done = item.runner.wait(item.handle, 0)
            if done is not None:
                item.exit, item.ended_at = done, now_m
                collected = True
            elif item.watched:  # its watch fired, yet the run goes on (a command outlived
                item.watched = False  # its monitor): poll it from now on
        return collected

    def due(self, inflight: Mapping[str, InFlight], *, flush_all: bool) -> tuple[list[list[InFlight]], float]:
        """The collected exits to write now, in batches of at most `complete_batch`, and
        how long the loop may wait. Unless told to write everything, a batch waits up to
        `complete_ms` for more runs to end while other runs are still going (their
        leases are still held meanwhile)."""
        ended = [i for i in inflight.values() if i.exit is not None]
        if not ended:
            return [], float("inf")
        running = len(inflight) - len(ended)
        if not flush_all and len(ended) < self.settings.complete_batch and running > 0:
            left = self.settings.complete_ms / 1000 - (self._mono() - min(i.ended_at for i in ended))
            if left > 0:
                return [], left
        n = self.settings.complete_batch
        return [ended[start : start + n] for start in range(0, len(ended), n)], float("inf")


def event_of(item: InFlight) -> Finished | Failed:
    """The event `item`'s exit is to the core."""
    done = item.exit
    assert done is not None
    if done.code == 0 and done.error is None:
        return Finished(done.result)
    if item.orphan_stop:
        return Failed(orphan_stop(item.job), final=item.job.orphan_policy is OrphanPolicy.FAIL)
    return Failed(done.error or f"exit code {done.code}", transient=done.transient, final=done.final)
