"""One seed of the simulation: daemons (worker, reaper, sanitizer) over one store, killed
at crash points and between steps, restarted under their names, with monitors that die,
a disk that fills up and a wall clock that jumps. Everything random comes from the seed,
so a failing seed replays exactly: `python -m sim SEED` from tests/.

Chaos first, then calm (no more faults) until every job has ended. Checked throughout:
`core.invariants` hold for every stored job, and the world's own checks (see world.py).
Checked at the end: every job is terminal, none is lost, no execution is left running,
and each follow-up exists exactly when its job is done.
"""

from __future__ import annotations

import contextlib
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import attrs

from qrun.adapters.memory import MemoryStore
from qrun.bootstrap.runtime.apply import Applier, Effects
from qrun.bootstrap.runtime.reaper import Reaper, Sanitizer
from qrun.bootstrap.runtime.worker import Worker
from qrun.core import Backoff, Cancel, FollowUp, Job, OrphanPolicy, Policy, Status, violations
from qrun.core.ports import JobStore

from .world import NAME, SimClock, SimCrash, SimRunner, Violation

T0 = datetime(2026, 1, 1, tzinfo=UTC)
POLICIES = [
    Policy(
        backoff=Backoff(base_s=1.0, cap_s=20.0),
        spawn_backoff=Backoff(base_s=1.0, cap_s=10.0),
        max_spawn_failures=6,
        dead_ticks=2,
        finalize_grace_s=30.0,
        max_running_s=max_running_s,
    )
    for max_running_s in (24 * 3600.0, 40.0)  # the default, and one runs reach
]
LEASE_S = 30.0


class SimFailure(AssertionError):
    def __init__(self, seed: int, why: str, trace: list[str]) -> None:
        tail = "\n".join(trace[-60:])
        super().__init__(f"seed {seed}: {why}\nreplay: cd tests && python -m sim {seed}\nlast steps:\n{tail}")


@attrs.define
class Daemon:
    name: str
    worker: Worker
    reaper: Reaper
    sanitizer: Sanitizer


class Simulation:
    def __init__(
        self,
        seed: int,
        store: JobStore | None = None,
        *,
        chaos_steps: int = 300,
        runner: type[SimRunner] = SimRunner,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.store = store if store is not None else MemoryStore()
        self.clock = SimClock(T0)
        self.runner = runner(self.clock, self.store)
        self.trace: list[str] = []
        self.chaos_steps = chaos_steps
        self.chaos = True
        self.crash_p = self.rng.choice([0.0, 0.02, 0.05, 0.1])
        self.policy = self.rng.choice(POLICIES)
        self.names = [f"d{i}" for i in range(self.rng.randint(1, 3))]
        self.daemons: dict[str, Daemon | None] = dict.fromkeys(self.names)
        self.incarnation = 0
        self.step_no = 0
        self.jobs: list[str] = []
        self.stats: Counter[str] = Counter()  # what happened, to show the faults were met

    # -- set-up ---------------------------------------------------------------------------
    def submit(self) -> None:
        rng, now = self.rng, self.clock.now()
        jobs = []
        for i in range(rng.randint(3, 12)):
            job_id = f"j{i}"
            follow = FollowUp(NAME, {"after": job_id}) if rng.random() < 0.3 else None
            key = "k" if rng.random() < 0.25 else None
            jobs.append(
                Job.new(
                    id=job_id,
                    kind=NAME,
                    now=now,
                    priority=rng.randint(0, 2),
                    max_attempts=rng.randint(1, 4),
                    concurrency_key=key,
                    follow_up=follow,
                    orphan_policy=rng.choice(
                        [OrphanPolicy.ADOPT] * 4 + [OrphanPolicy.RETRY, OrphanPolicy.FAIL]
                    ),
                )
            )
            self.runner.exit_code_of[job_id] = 0 if rng.random() < 0.8 else 1
            self.runner.lasts[job_id] = rng.choice([0.0, 0.0, 0.0, 20.0, 60.0])
        self.store.submit(jobs)
        self.jobs = [j.id for j in jobs]

    def start(self, name: str) -> None:
        self.incarnation += 1
        identity = f"{name}@sim:{self.incarnation}"
        runners = {NAME: self.runner}
        hook = self._hook(name)
        worker = Worker(
            self.store,
            runners,
            name=name,
            slots=self.rng.randint(1, 4),
            lease_s=LEASE_S,
            policy=self.policy,
            clock=self.clock,
            identity=identity,
            crash=hook,
            monotonic=self.clock.monotonic,
        )
        applier = Applier(self.store, Effects(runners), policy=self.policy, clock=self.clock, crash=hook)
        reaper = Reaper(self.store, runners, policy=self.policy, clock=self.clock, applier=applier)
        sanitizer = Sanitizer(self.store, policy=self.policy, clock=self.clock, applier=applier)
        self.daemons[name] = Daemon(name, worker, reaper, sanitizer)
        self.log(f"start {identity}")
        # What `qrun serve` does first, holding its name: heal, then recover its
        # predecessors' jobs (the name's lock proves them dead).
        self._as(name, lambda d: (d.sanitizer.tick(statuses=tuple(Status)), d.worker.recover(name)))

    def _hook(self, name: str) -> Callable[[str], None]:
        def hook(point: str) -> None:
            if self.chaos and self.rng.random() < self.crash_p:
                self.stats[f"crash at {point}"] += 1
                raise SimCrash(f"{name} killed at crash point {point!r}")

        return hook

    # -- the loop -------------------------------------------------------------------------
    def run(self) -> None:
        self.submit()
        for name in self.names:
            self.start(name)
        for _ in range(self.chaos_steps):
            self.step()
        self.chaos = False
        self.runner.disk_full = False
        self.log("calm")
        for name, daemon in self.daemons.items():
            if daemon is None:
                self.start(name)
        for _ in range(5000):
            if self.settled():
                break
            self.step()
        self.final_checks()

    def step(self) -> None:
        self.step_no += 1
        rng = self.rng
        choices: list[tuple[float, Callable[[], None]]] = []
        live = [d for d in self.daemons.values() if d is not None]
        for d in live:
            choices.append((6.0, lambda d=d: self._as(d.name, lambda d: d.worker.tick(), "worker pass")))
            choices.append((1.5, lambda d=d: self._as(d.name, lambda d: _reap(d, self.stats), "reaper pass")))
        moving = self.runner.moving()
        if moving:
            e = rng.choice(moving)
            choices.append((8.0, lambda e=e: self.log(f"{e.run_id}: {self.runner.step(e)}")))
        choices.append((3.0, self._advance))
        if self.chaos:
            dead = [n for n, d in self.daemons.items() if d is None]
            if dead:
                choices.append((1.0, lambda: self.start(rng.choice(dead))))
            if live:
                choices.append((0.2, lambda: self._kill(rng.choice(live).name, "between steps")))
            alive = [e for e in self.runner.runs.values() if e.monitor]
            if alive:
                choices.append((0.2, lambda: self._monitor_dies(rng.choice(alive).run_id)))
            choices.append((0.1, self._toggle_disk))
            choices.append((0.05, self._jump))
            choices.append((0.1, self._cancel))
        total = sum(w for w, _ in choices)
        pick = rng.uniform(0, total)
        for weight, action in choices:
            pick -= weight
            if pick <= 0:
                action()
                break
        self.check()

    # -- actions --------------------------------------------------------------------------
    def _as(self, name: str, act: Callable[[Daemon], object], what: str | None = None) -> None:
        daemon = self.daemons[name]
        assert daemon is not None
        if what:
            self.log(f"{name}: {what}")
        try:
            act(daemon)
        except SimCrash as crash:
            self._kill(name, str(crash))

    def _kill(self, name: str, why: str) -> None:
        self.daemons[name] = None
        self.stats["daemon killed"] += 1
        self.log(f"{name} dies: {why}")

    def _advance(self) -> None:
        seconds = (
            self.rng.choice([0.1, 0.5, 1.0, 3.0, 10.0]) if self.chaos else self.rng.choice([1.0, 10.0, 30.0])
        )
        self.clock.advance(seconds)
        self.log(f"+{seconds}s")

    def _jump(self) -> None:
        seconds = self.rng.choice([25 * 3600.0, -600.0])
        self.clock.jump(seconds)
        self.stats["clock set forward" if seconds > 0 else "clock set back"] += 1
        self.log(f"the wall clock jumps {seconds:+}s")

    def _monitor_dies(self, run_id: str) -> None:
        self.runner.monitor_dies(self.runner.runs[run_id])
        self.stats["monitor killed"] += 1
        self.log(f"{run_id}: monitor killed")

    def _toggle_disk(self) -> None:
        self.runner.disk_full = not self.runner.disk_full
        self.stats["disk full"] += self.runner.disk_full
        self.log("disk full" if self.runner.disk_full else "disk has room again")

    def _cancel(self) -> None:
        job_id = self.rng.choice(self.jobs)
        applier = Applier(self.store, Effects({NAME: self.runner}), policy=self.policy, clock=self.clock)
        got = applier.event(job_id, Cancel())
        self.stats["cancelled"] += got.decision is not None
        self.log(f"cancel {job_id}: {'done' if got.decision else 'refused'}")

    # -- checks ---------------------------------------------------------------------------
    def log(self, what: str) -> None:
        self.trace.append(f"{self.step_no:5d} {what}")

    def check(self) -> None:
        for job in self.store.list():
            found = violations(job)
            if found:
                raise Violation(f"job {job.id} is impossible: {'; '.join(found)}: {job}")

    def settled(self) -> bool:
        jobs = self.store.list()
        return all(j.status.terminal for j in jobs) and not any(e.alive for e in self.runner.runs.values())

    def final_checks(self) -> None:
        stored = {j.id: j for j in self.store.list()}
        for job_id in self.jobs:
            job = stored.get(job_id)
            if job is None:
                raise Violation(f"job {job_id} was lost")
        open_ = [f"{j.id} {j.status.value} {j}" for j in stored.values() if not j.status.terminal]
        if open_:
            raise Violation("jobs never ended: " + "; ".join(open_))
        alive = [e.run_id for e in self.runner.runs.values() if e.alive]
        if alive:
            raise Violation(f"executions left running: {alive}")
        for job in stored.values():
            if job.follow_up is None:
                continue
            has_next = f"{job.id}.next" in stored
            if has_next != (job.status is Status.DONE):
                raise Violation(f"job {job.id} is {job.status.value} but its follow-up exists: {has_next}")


def _reap(d: Daemon, stats: Counter[str]) -> None:
    for repair in d.reaper.tick():
        stats[f"reaped: {repair.done.split()[0]} {repair.done.split()[1]}"] += 1
    for _ in d.sanitizer.tick():
        stats["sanitized"] += 1


def simulate(
    seed: int, store: JobStore | None = None, *, chaos_steps: int = 300, runner: type[SimRunner] = SimRunner
) -> Simulation:
    """Run one seed; raise `SimFailure` (with the replay command and the last steps) if a
    promise broke."""
    sim = Simulation(seed, store, chaos_steps=chaos_steps, runner=runner)
    with quiet():
        try:
            sim.run()
        except Violation as broken:
            raise SimFailure(seed, str(broken), sim.trace) from None
    return sim


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """The runtime logs every fault it meets, and here faults are the point."""
    logger = logging.getLogger("qrun")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)
