"""The reaper and the sanitizer: recovery of jobs whose executor died, and healing of
impossible states. Both judge purely (`core.reaper.assess`, `core.invariants`) and act
only through a compare-and-set from the version they read, so they lose cleanly to any
other actor (R-B6) and never act twice."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime

import attrs

from qrun.core import (
    Exited,
    Gate,
    Handle,
    Healed,
    Job,
    Liveness,
    Notify,
    Observation,
    Policy,
    Sanitize,
    Status,
    assess,
    needs_gate,
    violations,
)
from qrun.core.ports import Clock, ExitPeek, JobStore, Runner

from .apply import Applier, Change, Effects
from .failures import log_failure
from .paging import all_jobs, open_suspects
from .runners import Runners

log = logging.getLogger("qrun.reaper")

#: Jobs a page of the sanitizer's `Examinable.suspects` reads.
SUSPECTS_PAGE = 500


@attrs.frozen
class Repair:
    """One thing the reaper or the sanitizer did, for logs and the status endpoint (R-G7)."""

    job_id: str
    found: str
    done: str
    at: datetime


def default_gate(store: JobStore) -> Callable[[Job], Gate]:
    """Exit 0 is success, unless the follow-up exists already (then: advanced)."""

    def gate(job: Job) -> Gate:
        return Gate.ADVANCED if job.follow_up and store.get(f"{job.id}.next") else Gate.GREEN

    return gate


class Reaper:
    def __init__(
        self,
        store: JobStore,
        runners: Mapping[str, Runner],
        *,
        policy: Policy,
        clock: Clock,
        gate: Callable[[Job], Gate] | None = None,
        enabled: bool = True,
        notify: Callable[[Notify], None] | None = None,
        delete_inputs: Callable[[str], None] | None = None,
        applier: Applier | None = None,
        keep: int = 50,
    ) -> None:
        self.store, self.policy, self.clock, self.enabled = store, policy, clock, enabled
        # The process's one registry, looked up by runner name as handles say.
        self.runners = runners if isinstance(runners, Runners) else Runners(runners)
        self.gate = gate or default_gate(store)
        # The app's applier where there is one (its effects); else one of its own.
        self.applier = applier or Applier(
            store,
            Effects(
                runners, notify=notify or (lambda note: None), delete_inputs=delete_inputs or (lambda i: None)
            ),
            policy=policy,
            clock=clock,
        )
        self.streaks: dict[tuple[str, str], int] = {}
        self.reaped_total = 0
        self.errors_total = 0
        self.last_reaped: list[Repair] = []
        self.last_run: datetime | None = None
        self._keep = keep

    def tick(self) -> list[Repair]:
        """One pass over the running jobs. Never raises: one job's error is counted and the
        pass goes on (R-B9). A no-op when switched off (R-B8)."""
        if not self.enabled:
            return []
        now = self.clock.now()
        self.last_run = now
        done: list[Repair] = []
        try:
            self.store.sweep_stale_leases(now)  # dead workers' jobs become adoptable (R-A5)
            jobs = list(all_jobs(self.store, Status.RUNNING))
        except Exception as exc:
            self.errors_total += 1
            log_failure(log, "reaper pass failed to read the store", exc)
            return done
        live = set()
        for job in jobs:
            assert job.run is not None
            live.add((job.id, job.run.id))
            try:
                repair = self._judge(job, now)
            except Exception as exc:
                self.errors_total += 1
                log_failure(log, "reaper failed on job %s", exc, job.id)
                continue
            if repair is not None:
                done.append(repair)
        self.streaks = {k: v for k, v in self.streaks.items() if k in live}
        return done

    def _judge(self, job: Job, now: datetime) -> Repair | None:
        run = job.run
        assert run is not None
        runner = self.runners.named(run.handle.runner) if run.handle else None
        if runner is not None and run.handle is not None and run.exit_code is None:
            code = _ended(runner, run.handle)
            if code is not None:
                # The execution ended but nobody recorded it: record it (R-B5); tier 2
                # finalizes once the grace has passed, unless its worker does first.
                self.applier.one(Change(job, Exited(code)), now=now, point="record")
                return None
        liveness = runner.observe(run.handle) if runner is not None and run.handle else Liveness.UNKNOWN
        gate = self.gate(job) if needs_gate(job, now, self.policy) else None
        key = (job.id, run.id)
        judged = assess(job, Observation(liveness, gate), now, self.policy, self.streaks.get(key, 0))
        self.streaks[key] = judged.dead_streak
        if judged.reap is None:
            return None
        applied = self.applier.one(Change(job, judged.reap), now=now, point="reap").decision
        if applied is None:
            return None  # another actor moved it first: no side effect, nothing counted (R-B6)
        self.streaks.pop(key, None)
        self.reaped_total += 1
        repair = Repair(
            job.id, judged.why, f"reaped ({judged.reap.reason.value}) -> {applied.job.status.value}", now
        )
        self.last_reaped = [repair, *self.last_reaped][: self._keep]
        log.warning("reaped job %s: %s; %s", job.id, repair.found, repair.done)
        return repair


class Sanitizer:
    """Finds impossible states (`core.invariants`) and heals them through `decide`
    (R-C4), idempotently; counts and reports each repair (R-G7)."""

    def __init__(
        self,
        store: JobStore,
        *,
        policy: Policy,
        clock: Clock,
        enabled: bool = True,
        applier: Applier | None = None,
        keep: int = 50,
    ) -> None:
        self.store, self.policy, self.clock, self.enabled = store, policy, clock, enabled
        self.applier = applier or Applier(store, Effects({}), policy=policy, clock=clock)
        self.impossible_queued_total = 0
        self.healed_total = 0
        self.last_repairs: list[Repair] = []
        self.last_run: datetime | None = None
        self._keep = keep

    def tick(self, statuses: tuple[Status, ...] = (Status.QUEUED, Status.RUNNING)) -> list[Repair]:
        """Open jobs on every tick; pass every status at start-up."""
        if not self.enabled:
            return []
        now = self.clock.now()
        self.last_run = now
        done: list[Repair] = []
        for job in self._to_judge(statuses, now):
            found = violations(job)
            if not found:
                continue
            written = self.applier.one(Change(job, Sanitize()), now=now).decision
            if written is None:
                continue
            done.append(self._record(job, written.job, "; ".join(found), now))
        return done

    def _to_judge(self, statuses: tuple[Status, ...], now: datetime) -> Iterator[Job]:
        """The jobs of `statuses` that may be impossible: of the open ones, only those a
        store that can pick them out names (`open_suspects`), so a tick never reads every
        queued job of a large table."""
        open_ = (Status.QUEUED, Status.RUNNING)
        if any(s in open_ for s in statuses):
            yield from (
                job for job in open_suspects(self.store, now, SUSPECTS_PAGE) if job.status in statuses
            )
        for status in statuses:
            if status not in open_:
                yield from all_jobs(self.store, status)

    def count(self, healed: Healed) -> None:
        """A row a claim met, and healed instead of handing out (R-C1): counted and
        recorded here like the sanitizer's own repairs."""
        self._record(
            healed.before, healed.decision.job, healed.found, self.clock.now(), by=" by the claim that met it"
        )

    def _record(self, before: Job, healed: Job, found: str, now: datetime, by: str = "") -> Repair:
        repair = Repair(before.id, found, f"healed -> {healed.status.value}{by}", now)
        self.healed_total += 1
        self.impossible_queued_total += before.status is Status.QUEUED
        self.last_repairs = [repair, *self.last_repairs][: self._keep]
        log.warning("sanitized job %s: %s; %s", before.id, repair.found, repair.done)
        return repair


def _ended(runner: Runner, handle: Handle) -> int | None:
    """The exit code of an execution that has ended, read without collecting it. A runner
    whose `wait` collects destructively (the container runner copies the output and
    removes the container) offers `exit_code(handle)`: the reaper must never take the
    output from under the worker that holds the run, which would then see it gone and
    run the job again."""
    if isinstance(runner, ExitPeek):
        return runner.exit_code(handle)
    ended = runner.wait(handle, 0)
    return ended.code if ended is not None else None
