"""The worker loop: event-driven, batched, fenced.

A pass (`tick`) renews the leases it holds (when due), writes the exits its runs reported
as one batch of compare-and-sets, then claims as many jobs as it has free slots in one
store call and starts them. Between passes it sleeps until something happens: a run ends
(its runner calls back), a job is submitted (the store's NOTIFY), a heartbeat is due, or
`poll_s` passes (a lost NOTIFY). A backlog therefore never waits on `poll_s`.

It decides from the version of each job it holds (the claim's, then its own writes'); it
reads a job again only when its write lost, and acts on what it read only while its fence
still holds the run (R-G2). A lost lease makes it forget that job at once, without
killing it: whoever adopts the run carries it on (R-G3). Every write goes through
`apply.Applier`, which carries out the effects of the writes that won.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import cast

import attrs
from returns.result import Success

from qrun.adapters.crashpoints import CrashHook, never
from qrun.adapters.runners.command import InvalidPayload
from qrun.core import (
    Decision,
    Failed,
    Fence,
    Finished,
    Handle,
    Heartbeat,
    Job,
    NothingToAdopt,
    Notify,
    OrphanPolicy,
    Policy,
    Recover,
    Release,
    Spawned,
    SpawnFailed,
    Status,
    decide,
)
from qrun.core.claim import Healed
from qrun.core.decide import orphan_stop
from qrun.core.errors import InvalidInput
from qrun.core.pools import Placement, place
from qrun.core.ports import (
    Adopted,
    ApplyResult,
    ApplyThenClaim,
    Clock,
    Exit,
    ExitWatch,
    InProcess,
    JobStore,
    PoolResource,
    Runner,
    RunnerUnavailable,
)

from .apply import Applier, Effects, Step
from .clock import SystemClock, monotonic
from .paging import all_jobs

log = logging.getLogger("qrun.worker")

#: How often runs no runner can watch (adopted from another process) are polled.
UNWATCHED_POLL_S = 0.2


def new_worker_id(name: str) -> str:
    """Unique per process, never reused by a restart (R-G1): NAME@host:pid:nonce."""
    return f"{name}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def own_name() -> str:
    """A daemon name no other process has: for a daemon nobody named."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def name_of(worker_id: str) -> str:
    """The daemon name in a worker id (names hold no '@'; hosts neither)."""
    return worker_id.rpartition("@")[0]


@attrs.define
class InFlight:
    job: Job  # the version this worker last claimed or wrote
    runner: Runner
    handle: Handle
    fresh: bool = False  # started by this worker (not adopted)
    watched: bool = False
    exit: Exit | None = None  # collected, not yet written
    ended_at: float = 0.0
    orphan_stop: bool = False  # adopted alive, stopped because its orphan policy says so

    @property
    def fence(self) -> Fence:
        return Fence.of(self.job)


class Worker:
    def __init__(
        self,
        store: JobStore,
        runners: Mapping[str, Runner],
        *,
        name: str = "worker",
        slots: int = 4,
        lease_s: float = 30.0,
        poll_s: float = 1.0,
        complete_batch: int = 100,
        complete_ms: float = 2.0,
        queues: Sequence[str] | None = None,
        policy: Policy = Policy(),
        clock: Clock | None = None,
        notify: Callable[[Notify], None] | None = None,
        delete_inputs: Callable[[str], None] | None = None,
        identity: str | None = None,
        pools: Mapping[str, PoolResource] | None = None,
        serve_pools: Sequence[str] | None = None,
        crash: CrashHook = never,
        monotonic: Callable[[], float] = monotonic,
        observe: Callable[[Decision], None] | None = None,
        acting: Callable[[], bool] = lambda: True,
    ) -> None:
        """`acting`: may it take work now (its daemon holds its name, R-G1); while not, it
        claims and adopts nothing, and keeps the leases of what it runs."""
        if slots < 1:
            raise InvalidInput(f"slots must be >= 1, got {slots}")
        if lease_s <= 0:
            raise InvalidInput(f"lease_s must be > 0, got {lease_s}")
        if complete_batch < 1:
            raise InvalidInput(f"complete_batch must be >= 1, got {complete_batch}")
        if complete_ms < 0:
            raise InvalidInput(f"complete_ms must be >= 0, got {complete_ms}")
        self.store, self.runners = store, dict(runners)
        self.name = name
        self.id = identity or new_worker_id(name)
        self.slots, self.lease_s, self.poll_s = slots, lease_s, poll_s
        self.complete_batch, self.complete_s = complete_batch, complete_ms / 1000
        self.heartbeat_s = lease_s / 3  # R-G3: at most a third of the lease apart
        self.queues, self.policy = queues, policy
        self.clock = clock or SystemClock()
        self.crash = crash
        self._mono = monotonic  # leases are renewed by elapsed time, never by the wall clock
        self.inflight: dict[str, InFlight] = {}
        self.pools = dict(pools or {})
        # The pools whose jobs this worker takes (None: all). A daemon serves the pools
        # it is configured with: another host's worktrees are not here (R-E3).
        self.serve_pools = tuple(serve_pools) if serve_pools is not None else None
        self.draining = False
        self.acting = acting
        #: Told of each impossible row a claim healed instead of handing out (R-C1).
        self.healed: Callable[[Healed], None] = _log_heal
        #: Set by anything that means "a pass has work now": a run ended, a job was
        #: submitted (the daemon's listener), shutdown.
        self.wake = threading.Event()
        self._ended: deque[str] = deque()
        self._claimed = -1  # how many the last claim started
        self._caps: dict[int, tuple[bool, bool]] = {}
        self.spawn_failures_total = 0
        self._combined = isinstance(store, ApplyThenClaim)
        self._steps: list[Step] = []  # writes the starts of this pass queued (stamps, failures)
        self._last_beat: float | None = None
        self._last_beat_ok = self._mono()
        self.applier = Applier(
            store,
            Effects(
                self.runners,
                notify=notify or (lambda note: None),
                delete_inputs=delete_inputs or (lambda job_id: None),
                spawn=self._spawn,
                adopt=self._adopt,
                observe=observe,
            ),
            policy=policy,
            clock=self.clock,
            crash=crash,
        )

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
        self._heartbeat_if_due()
        if self._collect():
            self.crash("exit")
        claiming = not self.draining and self._leases_trusted() and self.acting()
        chunks, wait = self._due(flush_all)
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
        self.applier.apply([Step(i.job, Release(self.id), i.fence) for i in self.inflight.values()])
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
        done = self.applier.apply([Step(job, Recover(job.lease.worker)) for job in held if job.lease])
        return sum(o.decision is not None for o in done)

    # -- steps ------------------------------------------------------------------------------
    def _running(self) -> int:
        return sum(1 for i in self.inflight.values() if i.exit is None)

    def _idle_wait(self) -> float:
        wait = self.poll_s
        if self.inflight:
            beat = self.heartbeat_s - (self._mono() - (self._last_beat or 0.0))
            wait = min(wait, max(beat, 0.0))
            if any(not i.watched and i.exit is None for i in self.inflight.values()):
                wait = min(wait, UNWATCHED_POLL_S)
        return wait

    def _heartbeat_if_due(self) -> None:
        now_m = self._mono()
        if not self.inflight or (self._last_beat is not None and now_m - self._last_beat < self.heartbeat_s):
            return
        self._last_beat = now_m
        now = self.clock.now()
        until = now + timedelta(seconds=self.lease_s)
        # The time since the last renewal, on the monotonic clock (a job claimed since then
        # is credited the whole of it: at most a third of a lease). No renewal can cover
        # more than a lease: a longer gap was not seen by a live holder.
        ran_s = min(max(now_m - self._last_beat_ok, 0.0), self.lease_s)
        try:
            kept = self.store.heartbeat(self.id, list(self.inflight), lease_until=until, now=now, ran_s=ran_s)
        except Exception:  # the store is unreachable: _leases_trusted decides what follows
            return
        self._last_beat_ok = now_m
        for job_id, item in list(self.inflight.items()):
            renewed = decide(item.job, Heartbeat(self.id, until, ran_s), now, self.policy)
            if job_id in kept and isinstance(renewed, Success):
                item.job = renewed.unwrap().job  # what the store wrote (the contract holds it to decide)
            else:
                del self.inflight[job_id]  # lost the lease: stop acting on it (R-A4, R-G3)

    def _leases_trusted(self) -> bool:
        """Heartbeats failing for two thirds of a lease: our leases may expire elsewhere
        soon, so forget every job and claim nothing until a heartbeat succeeds (R-G3)."""
        if self.inflight and self._mono() - self._last_beat_ok > self.lease_s * 2 / 3:
            self.inflight.clear()
            return False
        return True

    def _claim(self, free: int) -> None:
        now = self.clock.now()
        idle = not self.inflight
        claimed = self.store.claim(
            self.id,
            limit=free,
            now=now,
            lease_until=now + timedelta(seconds=self.lease_s),
            policy=self.policy,
            queues=self.queues,
            pools=self.serve_pools,
            kinds=tuple(self.runners),  # only what it can run: a task needs its app (R-A1)
        )
        self._start(claimed, idle)

    def _start(self, claimed: list[Decision], idle: bool) -> None:
        self._claimed = len(claimed)
        if claimed:
            self.crash("claim")
        if claimed and idle:  # fresh leases: the next renewal is a third of a lease away
            self._last_beat = self._last_beat_ok = self._mono()
        for healed in getattr(claimed, "healed", ()):  # a store's claim may heal what it met
            self.healed(healed)
        self.applier.carried(claimed)  # Spawn and AdoptRun come back to _spawn and _adopt
        self._write_steps()

    def _collect(self) -> bool:
        """Exits of the runs that ended: those whose runner called back, and a poll of
        the ones no runner watches. Whether any was collected."""
        ended: set[str] = set()
        while self._ended:
            ended.add(self._ended.popleft())
        now_m = self._mono()
        collected = False
        for job_id, item in self.inflight.items():
            if item.exit is not None or (item.watched and job_id not in ended):
                continue
            done = item.runner.wait(item.handle, 0)
            if done is not None:
                item.exit, item.ended_at = done, now_m
                collected = True
            elif item.watched:  # its watch fired, yet the run goes on (a command outlived
                item.watched = False  # its monitor): poll it from now on
        return collected

    def _due(self, flush_all: bool) -> tuple[list[list[InFlight]], float]:
        """The collected exits to write now, in batches of at most `complete_batch`, and
        how long the loop may wait. Unless told to write everything, a batch waits up to
        `complete_ms` for more runs to end while other runs are still going (their
        leases are still held meanwhile)."""
        ended = [i for i in self.inflight.values() if i.exit is not None]
        if not ended:
            return [], float("inf")
        if not flush_all and len(ended) < self.complete_batch and self._running() > 0:
            left = self.complete_s - (self._mono() - min(i.ended_at for i in ended))
            if left > 0:
                return [], left
        n = self.complete_batch
        return [ended[start : start + n] for start in range(0, len(ended), n)], float("inf")

    def _write_exits(self, items: list[InFlight], *, claim: int = 0) -> None:
        steps = [Step(i.job, _event(i), i.fence) for i in items if i.exit is not None]
        idle = len(self.inflight) == len(items)
        taken: list[list[Decision]] = []
        write = None
        if claim > 0 and self._combined:
            now = self.clock.now()
            until = now + timedelta(seconds=self.lease_s)
            store = cast(ApplyThenClaim, self.store)

            def write(decisions: Sequence[Decision]) -> list[ApplyResult]:
                results, claimed = store.apply_then_claim(
                    decisions,
                    self.id,
                    limit=claim,
                    now=now,
                    lease_until=until,
                    policy=self.policy,
                    queues=self.queues,
                    pools=self.serve_pools,
                    kinds=tuple(self.runners),
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
                retry.append(Step(current, Failed(f"result refused: {rejected.reason}"), step.fence))
        if retry:
            self.applier.apply(retry)
        if taken:
            self._start(taken[0], idle)

    def _write_steps(self) -> None:
        steps, self._steps = self._steps, []
        if not steps:
            return
        for step, outcome in zip(steps, self.applier.apply(steps, point="stamp"), strict=True):
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

    def _in_process(self, runner: Runner) -> bool:
        return self._traits(runner)[0]

    def _traits(self, runner: Runner) -> tuple[bool, bool]:
        """(in process, can watch exits): protocol checks are slow, and asked per job."""
        got = self._caps.get(id(runner))
        if got is None:
            got = (isinstance(runner, InProcess) and runner.in_process, isinstance(runner, ExitWatch))
            self._caps[id(runner)] = got
        return got

    def _watch(self, item: InFlight) -> None:
        if self._traits(item.runner)[1]:
            watcher = cast(ExitWatch, item.runner)
            job_id = item.job.id

            def ended() -> None:
                self._ended.append(job_id)
                self.wake.set()

            item.watched = watcher.on_exit(item.handle, ended)

    # -- effects of claims (called back by the applier) -------------------------------------
    def _spawn(self, decision: Decision) -> None:
        job = decision.job
        runner = self.runners.get(job.kind)
        if runner is None:
            known = ", ".join(sorted(self.runners)) or "none"
            error = f"no runner for job kind {job.kind!r} on worker {self.id} (kinds it runs: {known})"
            self._steps.append(Step(job, Failed(error), Fence.of(job)))
            return
        assert job.run is not None
        try:
            placed = self._placed(job)
            self.crash("prepare")
            handle = runner.spawn(placed, job.run)
        except InvalidPayload as exc:
            self._steps.append(Step(job, Failed(f"invalid payload: {exc}"), Fence.of(job)))
            return
        except RunnerUnavailable as exc:  # engine down, image missing: later, no attempt spent
            self._spawn_failed(job, exc)
            self._steps.append(Step(job, SpawnFailed(str(exc), transient=True), Fence.of(job)))
            return
        except Exception as exc:  # the spawn failed before a handle existed (R-C5)
            self._spawn_failed(job, exc)
            self._steps.append(Step(job, SpawnFailed(str(exc)), Fence.of(job)))
            return
        self.crash("spawn")
        item = InFlight(job, runner, handle, fresh=True)
        self.inflight[job.id] = item
        if not self._in_process(runner):
            # Stamped before it counts as started (R-C2); a lost stamp kills the run.
            self._steps.append(Step(job, Spawned(handle), Fence.of(job)))
        self._watch(item)

    def _spawn_failed(self, job: Job, exc: Exception) -> None:
        self.spawn_failures_total += 1
        log.warning(
            "could not start job %s (%s, %d in a row before this): %s",
            job.id,
            job.kind,
            job.spawn_failures,
            exc,
        )

    def _placed(self, job: Job) -> Job:
        """The job as its runner sees it, in the pool slot it holds, made ready first
        (R-E3). A slot that cannot be made ready is a transient failure: retried later,
        no attempt spent, and the slot given back meanwhile."""
        held = job.holding
        if held is None:
            return job
        resource = self.pools.get(held[0])
        try:
            placement = resource.prepare(held[1]) if resource is not None else Placement()
        except Exception as exc:
            raise RunnerUnavailable(str(exc)) from exc
        return place(job, placement)

    def _adopt(self, decision: Decision) -> None:
        job = decision.job
        runner = self.runners.get(job.kind)
        assert job.run is not None
        # This worker may have held the run before (its lease expired meanwhile, say the
        # wall clock jumped): that hold is over, whatever the runner finds.
        self.inflight.pop(job.id, None)
        self.crash("adopt")
        found = runner.adopt(job, job.run) if runner is not None else None
        if not isinstance(found, Adopted) or runner is None:
            self._steps.append(Step(job, NothingToAdopt(), Fence.of(job)))
            return
        self.crash("adopted")
        item = InFlight(job, runner, found.handle)
        self.inflight[job.id] = item
        if job.orphan_policy is not OrphanPolicy.ADOPT:
            ended = runner.wait(found.handle, 0)
            if ended is not None:  # it ended meanwhile: its exit stands (written next pass)
                item.exit, item.ended_at = ended, self._mono()
                self.wake.set()
            else:  # the policy asks not to carry it on: stop it, end the run once it is dead
                runner.kill(found.handle)
                item.orphan_stop = True
        if job.run.handle is None and not self._in_process(runner):
            # Found by its run id: stamp what the dead worker could not.
            self._steps.append(Step(job, Spawned(found.handle), Fence.of(job)))
        self._watch(item)


def _log_heal(healed: Healed) -> None:
    log.warning("a claim healed job %s instead of handing it out: %s", healed.before.id, healed.found)


def _event(item: InFlight) -> Finished | Failed:
    done = item.exit
    assert done is not None
    if done.code == 0 and done.error is None:
        return Finished(done.result)
    if item.orphan_stop:
        return Failed(orphan_stop(item.job), final=item.job.orphan_policy is OrphanPolicy.FAIL)
    return Failed(done.error or f"exit code {done.code}", transient=done.transient, final=done.final)
