"""The worker loop: event-driven, batched, fenced.

A pass (`tick`) renews the leases it holds (when due, `leases`), writes the exits its
runs reported as one batch of compare-and-sets (`completions`), then claims as many jobs
as it has free slots in one store call and starts them (`launch`). Between passes it
sleeps until something happens: a run ends (its runner calls back), a job is submitted
(the store's NOTIFY), a heartbeat is due, or `poll_s` passes (a lost NOTIFY). A backlog
therefore never waits on `poll_s`.

It decides from the version of each job it holds (the claim's, then its own writes'); it
reads a job again only when its write lost, and acts on what it read only while its fence
still holds the run (R-G2). A lost lease makes it forget that job at once, without
killing it: whoever adopts the run carries it on (R-G3). Every write goes through the
one `apply.Applier`, once per step of the way: a claim's launches are written (their
stamps, their failures) in one call with the claim's own effects, and a batch of exits
in one call that also takes the next jobs where the store can.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import cast

from qrun.adapters.crashpoints import CrashHook, never
from qrun.core import ClaimRequest, Decision, Failed, Finished, Policy, Recover, Release, Spawned, Status
from qrun.core.claim import Healed
from qrun.core.ports import ApplyResult, ApplyThenClaim, Clock, JobStore, PoolResource, Runner

from .apply import Applier, Change, Effects, Outcome
from .clock import SystemClock, monotonic
from .completions import Completions, event_of
from .inflight import InFlight, WorkerSettings
from .launch import Launcher
from .leases import Leases
from .paging import all_jobs
from .runners import Runners

log = logging.getLogger("qrun.worker")

#: How often runs no runner can watch (adopted from another process) are polled.
UNWATCHED_POLL_S = 0.2

__all__ = ["InFlight", "Worker", "WorkerSettings", "name_of", "new_worker_id", "own_name"]


def new_worker_id(name: str) -> str:
    """Unique per process, never reused by a restart (R-G1): NAME@host:pid:nonce."""
    return f"{name}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def own_name() -> str:
    """A daemon name no other process has: for a daemon nobody named."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def name_of(worker_id: str) -> str:
    """The daemon name in a worker id (names hold no '@'; hosts neither)."""
    return worker_id.rpartition("@")[0]


class Worker:
    def __init__(
        self,
        store: JobStore,
        runners: Mapping[str, Runner],
        *,
        settings: WorkerSettings | None = None,
        applier: Applier | None = None,
        policy: Policy = Policy(),
        clock: Clock | None = None,
        pools: Mapping[str, PoolResource] | None = None,
        crash: CrashHook = never,
        monotonic: Callable[[], float] = monotonic,
        acting: Callable[[], bool] = lambda: True,
    ) -> None:
        """`runners`: the process's one registry (`Runners`, shared, not copied). `applier`:
        the app's one applier (its effects: kills, notes, inputs deleted); a worker on its
        own makes a plain one. `acting`: may it take work now (its daemon holds its name,
        R-G1); while not, it claims and adopts nothing, and keeps the leases of what it runs."""
        settings = settings or WorkerSettings()
        self.store, self.settings, self.policy = store, settings, policy
        self.runners = runners if isinstance(runners, Runners) else Runners(runners)
        self.name = settings.name
        self.id = settings.identity or new_worker_id(settings.name)
        self.clock = clock or SystemClock()
        self.crash = crash
        self.acting = acting
        self._mono = monotonic  # leases are renewed by elapsed time, never by the wall clock
        self.applier = applier or Applier(
            store, Effects(self.runners), policy=policy, clock=self.clock, crash=crash
        )
        self.inflight: dict[str, InFlight] = {}
        self.draining = False
        #: Told of each impossible row a claim healed instead of handing out (R-C1).
        self.healed: Callable[[Healed], None] = _log_heal
        #: Set by anything that means "a pass has work now": a run ended, a job was
        #: submitted (the daemon's listener), shutdown.
        self.wake = threading.Event()
        self.leases = Leases(store, self.id, settings, policy=policy, clock=self.clock, monotonic=monotonic)
        self.completions = Completions(self.runners, settings, self.wake, monotonic)
        self.launcher = Launcher(self.runners, self.id, pools=pools, crash=crash, monotonic=monotonic)
        self.launch_errors_total = 0
        self._claimed = -1  # how many the last claim started
        self._combined = isinstance(store, ApplyThenClaim)

    # -- what the daemon and the app read -----------------------------------------------------
    @property
    def slots(self) -> int:
        return self.settings.slots

    @property
    def queues(self) -> tuple[str, ...] | None:
        return self.settings.queues

    @property
    def heartbeat_s(self) -> float:
        return self.settings.heartbeat_s

    @property
    def spawn_failures_total(self) -> int:
        return self.launcher.spawn_failures_total

    # -- the loop ---------------------------------------------------------------------------
    def run(self, stop: threading.Event, *, burst: bool = False) -> None:
        """Passes until `stop`, each as soon as there is something to do. `burst`: return
        once nothing is in flight and a claim found nothing to start."""
        while not stop.is_set():
            self.wake.clear()  # before the pass: a wake during it is not lost
            pause = self._pass(flush_all=False)
            if burst and not self.inflight and self._claimed == 0:
                return
            if pause > 0:
                self.wake.wait(pause)

    def tick(self) -> None:
        """One synchronous pass that writes every exit collected (tests, `drain`)."""
        self._pass(flush_all=True)

    def _pass(self, *, flush_all: bool) -> float:
        """One pass; returns how long the loop may sleep before the next."""
        self._claimed = -1
        self.leases.renew_if_due(self.inflight)
        if self.completions.collect(self.inflight):
            self.crash("exit")
        claiming = not self.draining and self.leases.trusted(self.inflight) and self.acting()
        chunks, wait = self.completions.due(self.inflight, flush_all=flush_all)
        free = self.slots - self._running() if claiming else 0
        for i, chunk in enumerate(chunks):
            # The last batch of exits takes the next jobs along where the store can do
            # both in one transaction: one round trip and one commit for the pair.
            self._write_exits(chunk, claim=free if i == len(chunks) - 1 else 0)
        held_back = not chunks and wait != float("inf")  # exits waiting for their batch
        if free > 0 and self._claimed < 0 and not (held_back and self._combined):
            # (Where a claim can ride along with the exits, it waits for them: at most
            # `complete_ms`, for one commit instead of two.)
            self._claim(free)
        return min(wait, self._idle_wait())

    def drain(self, timeout_s: float) -> None:
        """Stop claiming; let in-flight runs finish up to `timeout_s`; release the rest so
        another worker adopts them, alive (R-E4)."""
        self.draining = True
        deadline = self._mono() + timeout_s
        while self.inflight and self._mono() < deadline:
            self.wake.clear()
            self.tick()
            if self.inflight:
                self.wake.wait(min(self._idle_wait(), max(0.0, deadline - self._mono())))
        self.applier.apply([Change(i.job, Release(self.id), i.fence) for i in self.inflight.values()])
        self.inflight.clear()

    def recover(self, name: str, dead: Callable[[str], bool]) -> int:
        """Holding `name`: make the jobs that earlier daemons of that name left running
        adoptable at once (R-B11, R-C1), where `dead(their worker id)` proves them gone.
        The others keep their leases: a live holder renews them, a dead one's expire.
        Returns how many."""
        held = [
            job
            for job in all_jobs(self.store, Status.RUNNING)
            if job.lease is not None
            and job.lease.worker != self.id
            and name_of(job.lease.worker) == name
            and dead(job.lease.worker)
        ]
        done = self.applier.apply([Change(job, Recover(job.lease.worker)) for job in held if job.lease])
        return sum(o.decision is not None for o in done)

    # -- steps ------------------------------------------------------------------------------
    def _running(self) -> int:
        return sum(1 for i in self.inflight.values() if i.exit is None)

    def _idle_wait(self) -> float:
        wait = self.settings.poll_s
        if self.inflight:
            wait = min(wait, self.leases.due_in())
            if any(not i.watched and i.exit is None for i in self.inflight.values()):
                wait = min(wait, UNWATCHED_POLL_S)
        return wait

    def _claim(self, free: int) -> None:
        now = self.clock.now()
        idle = not self.inflight
        claimed = self.store.claim(
            ClaimRequest(
                self.id,
                limit=free,
                now=now,
                lease_until=now + timedelta(seconds=self.settings.lease_s),
                policy=self.policy,
                queues=self.settings.queues,
                pools=self.settings.serve_pools,
                kinds=tuple(self.runners),  # only what it can run: a task needs its app (R-A1)
            )
        )
        self._start(claimed, idle)

    def _start(self, claimed: list[Decision], idle: bool) -> None:
        """Launch what `claimed` starts or adopts, then write the launches' steps with the
        claims' own effects, in one call to the applier."""
        self._claimed = len(claimed)
        for healed in getattr(claimed, "healed", ()):  # a store's claim may heal what it met
            self.healed(healed)
        if not claimed:
            return
        self.crash("claim")
        if idle:
            self.leases.fresh()
        steps: list[Change] = []
        for decision in claimed:
            self.inflight.pop(decision.job.id, None)  # a hold it had before (re-adopted) is over
            try:
                launched = self.launcher.launch(decision)
            except Exception:  # its lease lapses unrenewed, and another worker adopts it
                self.launch_errors_total += 1
                log.exception("launching job %s failed; its lease will lapse", decision.job.id)
                continue
            if launched is None:
                continue
            if launched.item is not None:
                self.inflight[decision.job.id] = launched.item
                self.completions.watch(launched.item)
            if launched.change is not None:
                steps.append(launched.change)
        self._settle(steps, self.applier.apply(steps, point="stamp", carried=claimed))

    def _settle(self, steps: Sequence[Change], outcomes: Sequence[Outcome]) -> None:
        """What the launches' writes mean for the runs in flight."""
        for step, outcome in zip(steps, outcomes, strict=True):
            item = self.inflight.get(step.job.id)
            if item is None:
                continue
            if outcome.decision is None:
                if isinstance(step.event, Spawned) and item.fresh:
                    item.runner.kill(item.handle)  # cancelled or lost meanwhile: nothing may run unrecorded
                del self.inflight[step.job.id]
            elif outcome.decision.job.fenced_by(item.fence):
                item.job = outcome.decision.job
            else:  # the write ended the run (it was not this item's, or it is over)
                del self.inflight[step.job.id]

    def _write_exits(self, items: list[InFlight], *, claim: int = 0) -> None:
        steps = [Change(i.job, event_of(i), i.fence) for i in items if i.exit is not None]
        idle = len(self.inflight) == len(items)
        taken: list[list[Decision]] = []
        write = None
        if claim > 0 and self._combined:
            now = self.clock.now()
            until = now + timedelta(seconds=self.settings.lease_s)
            store = cast(ApplyThenClaim, self.store)

            def write(decisions: Sequence[Decision]) -> list[ApplyResult]:
                results, claimed = store.apply_then_claim(
                    decisions,
                    ClaimRequest(
                        self.id,
                        limit=claim,
                        now=now,
                        lease_until=until,
                        policy=self.policy,
                        queues=self.settings.queues,
                        pools=self.settings.serve_pools,
                        kinds=tuple(self.runners),
                    ),
                )
                taken.append(claimed)
                return results

        outcomes = self.applier.apply(steps, write=write, point="finish")
        # Written or refused, the run is over for this worker. (A store error raises before
        # this line: the runs stay here, still leased, and are written on a later pass.)
        for item in items:
            del self.inflight[item.job.id]
        retry = []
        for step, outcome in zip(steps, outcomes, strict=True):
            rejected, current = outcome.rejection, outcome.current
            if (
                isinstance(step.event, Finished)
                and rejected is not None
                and current is not None
                and current.fenced_by(step.fence)  # type: ignore[arg-type]
            ):
                # The result itself was refused (not plain JSON): the run failed.
                retry.append(Change(current, Failed(f"result refused: {rejected.reason}"), step.fence))
        if retry:
            self.applier.apply(retry)
        if taken:
            self._start(taken[0], idle)


def _log_heal(healed: Healed) -> None:
    log.warning("a claim healed job %s instead of handing it out: %s", healed.before.id, healed.found)
