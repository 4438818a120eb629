"""The one way the runtime applies decisions: decide, write with compare-and-set (many at
once, one transaction), and carry out the external effects of the winners only (R-B6).

The worker, the reaper, the sanitizer and by-hand actions (cancel, retry, recover,
release) all come through here. A caller decides from the version it holds; it reads the
store again only when its write lost, and then decides again from what it read while its
fence still holds (an event of a run's holder applies to any newer version it still
holds, e.g. after a cancel was requested).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime

import attrs
from returns.result import Success

from qrun.adapters.crashpoints import CrashHook, never
from qrun.core import (
    Decision,
    DeleteInputs,
    Event,
    Fence,
    Handle,
    Job,
    Kill,
    Notify,
    Policy,
    Rejection,
    Status,
    decide,
)
from qrun.core.ports import Applied, ApplyResult, Clock, Conflict, JobStore, Runner

log = logging.getLogger("qrun.apply")


@attrs.frozen
class Change:
    """`event` for `job` as the caller holds it. With `fence`, a lost write is decided
    again from the stored version while the fence still holds it (R-G2); without, a
    lost write is dropped (the reaper acts only on the version it judged)."""

    job: Job
    event: Event
    fence: Fence | None = None


@attrs.frozen
class Outcome:
    decision: Decision | None  # the decision that was written, if one was
    rejection: Rejection | None = None
    current: Job | None = None  # what is stored now, when the write was not made
    lost: bool = False  # decided, but another writer changed the job first


@attrs.define
class Effects:
    """Carries out the external effects that follow a write: kills (to the runner named
    in the handle), notes, inputs deleted. Starting and adopting runs is the worker's
    (`launch`): what they come to is a value it writes, never a call back from here."""

    runners: Mapping[str, Runner]
    notify: Callable[[Notify], None] = lambda note: None
    delete_inputs: Callable[[str], None] = lambda job_id: None
    #: Told of every decision carried out (metrics); never stops the effects.
    observe: Callable[[Decision], None] | None = None
    #: Effects (and observations) that raised: logged, counted, never undoing a write.
    failures_total: int = 0

    def carry_out(self, decision: Decision, *, stopped: bool = False) -> None:
        """`stopped`: its Kill was carried out before the write (see `stop_first`)."""
        if self.observe is not None:
            try:
                self.observe(decision)
            except Exception:
                self.failures_total += 1
                log.exception("observing job %s failed", decision.job.id)
        for effect in decision.external:
            if stopped and isinstance(effect, Kill):
                continue
            try:
                self._one(decision, effect)
            except Exception:  # an effect never undoes a committed write; log and go on
                self.failures_total += 1
                log.exception("effect %s of job %s failed", type(effect).__name__, decision.job.id)

    def _one(self, decision: Decision, effect: object) -> None:
        match effect:  # the most frequent first: every finished job notifies and deletes
            case Notify():
                self.notify(effect)
            case DeleteInputs(job_id=job_id):
                self.delete_inputs(job_id)
            case Kill(handle=Handle() as handle):
                kill(self.runners.values(), handle)


def stop_first(decision: Decision) -> bool:
    """Whether `decision` ends a run that may still be alive (the ceiling, say): its Kill
    is carried out before the write, so that once the job can be claimed again no earlier
    execution of it is left running, even if the writer dies right after writing. A
    write that then loses has stopped a run that was being ended anyway."""
    return decision.job.status is not Status.RUNNING and any(isinstance(e, Kill) for e in decision.external)


def kill(runners: Iterable[Runner], handle: Handle) -> bool:
    """Stop the execution behind `handle` with the runner that made it (named in it)."""
    for runner in runners:
        if runner.name == handle.runner:
            runner.kill(handle)
            return True
    return False


class Applier:
    def __init__(
        self, store: JobStore, effects: Effects, *, policy: Policy, clock: Clock, crash: CrashHook = never
    ) -> None:
        self.store, self.effects, self.policy, self.clock = store, effects, policy, clock
        self.crash = crash

    def apply(
        self,
        changes: Sequence[Change],
        *,
        now: datetime | None = None,
        tries: int = 5,
        write: Callable[[Sequence[Decision]], list[ApplyResult]] | None = None,
        point: str | None = None,
        carried: Sequence[Decision] = (),
    ) -> list[Outcome]:
        """Decide every change, write the decisions in one `apply_many` (or the first round
        with `write`, which must do the same), retry the fenced losers from the stored
        version, then carry out the winners' effects. One outcome per change, in order.
        `point` names the crash point between a winning write and its effects.
        `carried`: decisions the store wrote itself (a claim's), whose effects are
        carried out first."""
        for decision in carried:
            self.effects.carry_out(decision)
        now = now or self.clock.now()
        first = write
        out: list[Outcome | None] = [None] * len(changes)
        todo = list(enumerate(changes))
        stopped: set[int] = set()  # ids of the decisions whose Kill went before their write
        then: list[Decision] = []  # what the store wrote because of the winners
        for _ in range(tries):
            pending: list[tuple[int, Change, Decision]] = []
            deciding, todo = todo, []
            for i, s in deciding:
                result = decide(s.job, s.event, now, self.policy)
                if isinstance(result, Success):
                    pending.append((i, s, result.unwrap()))
                else:
                    out[i] = Outcome(None, result.failure(), s.job)
            if not pending:
                break
            for _, _, d in pending:
                if stop_first(d):
                    self.effects.carry_out(_only_kills(d))
                    stopped.add(id(d))
            written = (first or self.store.apply_many)([d for _, _, d in pending])
            first = None
            for (i, s, d), w in zip(pending, written, strict=True):
                if isinstance(w, Applied):
                    out[i] = Outcome(d)
                    then.extend(w.then)  # its dependents, ended or revived with it
                    continue
                assert isinstance(w, Conflict)
                current = w.current
                if s.fence is not None and current is not None and current.fenced_by(s.fence):
                    todo.append((i, Change(current, s.event, s.fence)))
                else:
                    why = "lease lost (fenced out)" if s.fence is not None else "changed meanwhile"
                    status = current.status if current is not None else s.job.status
                    rejection = Rejection(s.job.id, status, type(s.event).__name__, why)
                    out[i] = Outcome(None, rejection, current, lost=True)
            if not todo:
                break
        for i, s in todo:  # lost every race: someone else keeps changing the job
            out[i] = Outcome(
                None, Rejection(s.job.id, s.job.status, type(s.event).__name__, "lost every race")
            )
        done = [o for o in out if o is not None]
        if point is not None and any(o.decision is not None for o in done):
            self.crash(point)
        for o in done:
            if o.decision is not None:
                self.effects.carry_out(o.decision, stopped=id(o.decision) in stopped)
        for decision in then:
            self.effects.carry_out(decision)
        return done

    def one(self, change: Change, *, now: datetime | None = None, point: str | None = None) -> Outcome:
        return self.apply([change], now=now, point=point)[0]

    def event(self, job_id: str, event: Event, *, fence: Fence | None = None) -> Outcome:
        """Apply `event` to the stored job (a by-hand action: cancel, retry, recover); a
        lost write is decided again from the newer version."""
        for _ in range(5):
            job = self.store.get(job_id)
            if job is None:
                return Outcome(None)
            if fence is not None and not job.fenced_by(fence):
                return Outcome(
                    None, Rejection(job.id, job.status, type(event).__name__, "lease lost (fenced out)")
                )
            got = self.one(Change(job, event, fence))
            if not got.lost:
                return got
        return Outcome(None)


def _only_kills(decision: Decision) -> Decision:
    return attrs.evolve(decision, effects=tuple(e for e in decision.effects if isinstance(e, Kill)))
