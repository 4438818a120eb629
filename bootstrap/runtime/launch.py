"""Starting a claimed run, or adopting an orphaned one, and saying what came of it.

`Launcher.launch(decision)` carries out a claim's `Spawn` or `AdoptRun` and returns a
`Launched`: the run now in flight (if one is) and the write it needs (the handle's stamp,
R-C2, or the failure). It writes nothing and calls nothing back: the worker records the
run and hands the write to the applier with the claim's own effects, in one call."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

import attrs

from qrun.adapters.crashpoints import CrashHook, never
from qrun.adapters.runners.command import InvalidPayload
from qrun.core import (
    AdoptRun,
    Decision,
    Failed,
    Fence,
    Job,
    NothingToAdopt,
    OrphanPolicy,
    Spawn,
    Spawned,
    SpawnFailed,
)
from qrun.core.pools import Placement, place
from qrun.core.ports import Adopted, PoolResource, RunnerUnavailable

from .apply import Change
from .clock import monotonic
from .inflight import InFlight
from .runners import Runners

log = logging.getLogger("qrun.worker")


@attrs.frozen
class Launched:
    """What launching one claimed job came to."""

    item: InFlight | None = None  # the run now in flight, if one is
    change: Change | None = None  # the write it needs (a stamp, a failure), if any


class Launcher:
    def __init__(
        self,
        runners: Runners,
        worker: str,
        *,
        pools: Mapping[str, PoolResource] | None = None,
        crash: CrashHook = never,
        monotonic: Callable[[], float] = monotonic,
    ) -> None:
        self.runners, self.worker, self.pools = runners, worker, dict(pools or {})
        self.crash, self._mono = crash, monotonic
        self.spawn_failures_total = 0

    def launch(self, decision: Decision) -> Launched | None:
        """The run `decision` (a claim) starts or adopts; None if it does neither."""
        for effect in decision.external:
            if isinstance(effect, Spawn):
                return self.spawn(decision.job)
            if isinstance(effect, AdoptRun):
                return self.adopt(decision.job)
        return None

    def spawn(self, job: Job) -> Launched:
        runner = self.runners.get(job.kind)
        if runner is None:
            known = ", ".join(sorted(self.runners)) or "none"
            error = f"no runner for job kind {job.kind!r} on worker {self.worker} (kinds it runs: {known})"
            return Launched(change=_change(job, Failed(error)))
        assert job.run is not None
        try:
            placed = self._placed(job)
            self.crash("prepare")
            handle = runner.spawn(placed, job.run)
        except InvalidPayload as exc:
            return Launched(change=_change(job, Failed(f"invalid payload: {exc}")))
        except RunnerUnavailable as exc:  # engine down, image missing: later, no attempt spent
            self._failed(job, exc)
            return Launched(change=_change(job, SpawnFailed(str(exc), transient=True)))
        except Exception as exc:  # the spawn failed before a handle existed (R-C5)
            self._failed(job, exc)
            return Launched(change=_change(job, SpawnFailed(str(exc))))
        self.crash("spawn")
        item = InFlight(job, runner, handle, fresh=True)
        # Stamped before it counts as started (R-C2); a lost stamp kills the run.
        stamp = None if self.runners.in_process(runner) else _change(job, Spawned(handle))
        return Launched(item, stamp)

    def adopt(self, job: Job) -> Launched:
        runner = self.runners.get(job.kind)
        assert job.run is not None
        self.crash("adopt")
        found = runner.adopt(job, job.run) if runner is not None else None
        if not isinstance(found, Adopted) or runner is None:
            return Launched(change=_change(job, NothingToAdopt()))
        self.crash("adopted")
        item = InFlight(job, runner, found.handle)
        if job.orphan_policy is not OrphanPolicy.ADOPT:
            ended = runner.wait(found.handle, 0)
            if ended is not None:  # it ended meanwhile: its exit stands (written next pass)
                item.exit, item.ended_at = ended, self._mono()
            else:  # the policy asks not to carry it on: stop it, end the run once it is dead
                runner.kill(found.handle)
                item.orphan_stop = True
        stamp = None
        if job.run.handle is None and not self.runners.in_process(runner):
            stamp = _change(job, Spawned(found.handle))  # found by its run id: stamp what the dead could not
        return Launched(item, stamp)

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

    def _failed(self, job: Job, exc: Exception) -> None:
        self.spawn_failures_total += 1
        log.warning(
            "could not start job %s (%s, %d in a row before this): %s",
            job.id,
            job.kind,
            job.spawn_failures,
            exc,
        )


def _change(job: Job, event: Failed | SpawnFailed | Spawned | NothingToAdopt) -> Change:
    return Change(job, event, Fence.of(job))
