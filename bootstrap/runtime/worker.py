"""The worker loop: claim up to its free slots, carry out Spawn / Adopt / Kill / Notify,
renew its leases in one call, record exits. Thin on purpose: every rule it follows is
decided by `decide` and every write is a fenced compare-and-set.

Per tick: heartbeat (if due) -> collect exits -> claim. A lost lease (the store did not
renew it, or heartbeats kept failing) makes the worker forget that job at once, without
killing it: whoever adopts the run carries it on (R-G3).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Protocol

import attrs
from qrun.adapters.pools.placement import place
from qrun.adapters.runners.command import InvalidPayload
from qrun.core import (
    AdoptRun,
    Decision,
    DeleteInputs,
    Exited,
    Failed,
    Fence,
    Finished,
    Handle,
    Job,
    Kill,
    NothingToAdopt,
    Notify,
    Policy,
    Recover,
    Release,
    Spawn,
    Spawned,
    SpawnFailed,
    Status,
)
from qrun.core.pools import Placement
from qrun.core.ports import Adopted, Clock, JobStore, PoolResource, Runner, RunnerUnavailable

from .clock import SystemClock, SystemSleeper, monotonic
from .effects import kill
from .paging import all_jobs
from .transition import transition


def new_worker_id(name: str) -> str:
    """Unique per process, never reused by a restart (R-G1)."""
    return f"{name}@{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@attrs.define
class InFlight:
    job_id: str
    fence: Fence
    runner: Runner
    handle: Handle


class Sleeper(Protocol):
    def sleep(self, seconds: float) -> None: ...


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
        queues: Sequence[str] | None = None,
        policy: Policy = Policy(),
        clock: Clock | None = None,
        sleeper: Sleeper | None = None,
        notify: Callable[[Notify], None] | None = None,
        delete_inputs: Callable[[str], None] | None = None,
        identity: str | None = None,
        pools: Mapping[str, PoolResource] | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError(f"slots must be >= 1, got {slots}")
        if lease_s <= 0:
            raise ValueError(f"lease_s must be > 0, got {lease_s}")
        self.store, self.runners = store, dict(runners)
        self.id = identity or new_worker_id(name)
        self.slots, self.lease_s, self.poll_s = slots, lease_s, poll_s
        self.heartbeat_s = lease_s / 3  # R-G3: at most a third of the lease apart
        self.queues, self.policy = queues, policy
        self.clock = clock or SystemClock()
        self.sleeper = sleeper or SystemSleeper()
        self._notify = notify or (lambda note: None)
        self._delete_inputs = delete_inputs or (lambda job_id: None)
        self.inflight: dict[str, InFlight] = {}
        self.pools = dict(pools or {})
        self.draining = False
        self._last_beat: float | None = None
        self._last_beat_ok = monotonic()

    # -- the loop ---------------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.tick()
            self.sleeper.sleep(self.poll_s)

    def tick(self) -> None:
        self._heartbeat_if_due()
        self._collect_exits()
        if not self.draining and self._leases_trusted():
            self._claim()

    def drain(self, timeout_s: float) -> None:
        """Stop claiming; let in-flight runs finish up to `timeout_s`; release the rest so
        another worker adopts them, alive (R-E4)."""
        self.draining = True
        deadline = monotonic() + timeout_s
        while self.inflight and monotonic() < deadline:
            self.tick()
            if self.inflight:
                self.sleeper.sleep(min(self.poll_s, max(0.0, deadline - monotonic())))
        for item in list(self.inflight.values()):
            transition(self.store, item.job_id, Release(self.id), self.clock, self.policy, fence=item.fence)
            del self.inflight[item.job_id]

    def recover(self, previous_id: str) -> int:
        """Start-up: make the jobs a previous process of this worker left running adoptable
        (R-B11, R-C1). Returns how many."""
        count = 0
        for job in all_jobs(self.store, Status.RUNNING):
            if job.holds(previous_id):
                done = transition(self.store, job.id, Recover(previous_id), self.clock, self.policy)
                count += done.decision is not None
        return count

    # -- steps ------------------------------------------------------------------------------
    def _heartbeat_if_due(self) -> None:
        now_m = monotonic()
        if not self.inflight or (self._last_beat is not None and now_m - self._last_beat < self.heartbeat_s):
            return
        self._last_beat = now_m
        now = self.clock.now()
        try:
            kept = self.store.heartbeat(
                self.id, list(self.inflight), lease_until=now + timedelta(seconds=self.lease_s), now=now
            )
        except Exception:  # the store is unreachable: _leases_trusted decides what follows
            return
        self._last_beat_ok = now_m
        for job_id in set(self.inflight) - kept:
            del self.inflight[job_id]  # lost the lease: stop acting on it (R-A4, R-G3)

    def _leases_trusted(self) -> bool:
        """Heartbeats failing for two thirds of a lease: our leases may expire elsewhere
        soon, so forget every job and claim nothing until a heartbeat succeeds (R-G3)."""
        if self.inflight and monotonic() - self._last_beat_ok > self.lease_s * 2 / 3:
            self.inflight.clear()
            return False
        return True

    def _claim(self) -> None:
        free = self.slots - len(self.inflight)
        if free <= 0:
            return
        now = self.clock.now()
        claimed = self.store.claim(
            self.id,
            limit=free,
            now=now,
            lease_until=now + timedelta(seconds=self.lease_s),
            policy=self.policy,
            queues=self.queues,
        )
        for decision in claimed:
            self._carry_out(decision)

    def _collect_exits(self) -> None:
        for item in list(self.inflight.values()):
            done = item.runner.wait(item.handle, 0)
            if done is None:
                continue
            del self.inflight[item.job_id]
            # Record the exit code first: if this worker dies now, the reaper finalizes (R-B5).
            transition(self.store, item.job_id, Exited(done.code), self.clock, self.policy, fence=item.fence)
            event = (
                Finished(done.result)
                if done.code == 0 and done.error is None
                else Failed(
                    done.error or f"exit code {done.code}", transient=done.transient, final=done.final
                )
            )
            outcome = transition(self.store, item.job_id, event, self.clock, self.policy, fence=item.fence)
            if outcome.decision is not None:
                self._carry_out(outcome.decision)

    def _carry_out(self, decision: Decision) -> None:
        for effect in decision.external:
            if isinstance(effect, Spawn):
                self._spawn(decision)
            elif isinstance(effect, AdoptRun):
                self._adopt(decision)
            elif isinstance(effect, Kill) and effect.handle is not None:
                kill(self.runners.values(), effect.handle)
            elif isinstance(effect, Notify):
                self._notify(effect)
            elif isinstance(effect, DeleteInputs):
                self._delete_inputs(effect.job_id)

    def _runner_for(self, kind: str) -> Runner | None:
        return self.runners.get(kind)

    def _spawn(self, decision: Decision) -> None:
        job = decision.job
        fence = Fence.of(job)
        runner = self._runner_for(job.kind)
        if runner is None:
            known = ", ".join(sorted(self.runners)) or "none"
            error = f"no runner for job kind {job.kind!r} on worker {self.id} (kinds it runs: {known})"
            self._fail(job.id, fence, error)
            return
        assert job.run is not None
        try:
            handle = runner.spawn(self._placed(job), job.run)
        except InvalidPayload as exc:
            self._fail(job.id, fence, f"invalid payload: {exc}")
            return
        except RunnerUnavailable as exc:  # engine down, image missing: later, no attempt spent
            event = SpawnFailed(str(exc), transient=True)
            transition(self.store, job.id, event, self.clock, self.policy, fence=fence)
            return
        except Exception as exc:  # the spawn failed before a handle existed (R-C5)
            transition(self.store, job.id, SpawnFailed(str(exc)), self.clock, self.policy, fence=fence)
            return
        written = transition(self.store, job.id, Spawned(handle), self.clock, self.policy, fence=fence)
        if written.decision is None:
            runner.kill(handle)  # cancelled or lost meanwhile: nothing may run unrecorded
            return
        self.inflight[job.id] = InFlight(job.id, Fence.of(written.decision.job), runner, handle)

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
        fence = Fence.of(job)
        runner = self._runner_for(job.kind)
        assert job.run is not None
        found = runner.adopt(job, job.run) if runner is not None else None
        if isinstance(found, Adopted):
            if job.run.handle is None:  # found by its run id: stamp what the dead worker could not
                stamp = Spawned(found.handle)
                stamped = transition(self.store, job.id, stamp, self.clock, self.policy, fence=fence)
                if stamped.decision is None:
                    return  # lost the job meanwhile; its new holder adopts the execution
            self.inflight[job.id] = InFlight(job.id, fence, runner, found.handle)  # type: ignore[arg-type]
            return
        transition(self.store, job.id, NothingToAdopt(), self.clock, self.policy, fence=fence)

    def _fail(self, job_id: str, fence: Fence, error: str) -> None:
        outcome = transition(self.store, job_id, Failed(error), self.clock, self.policy, fence=fence)
        if outcome.decision is not None:
            self._carry_out(outcome.decision)
