"""One seed of the simulation: daemons (worker, reaper, sanitizer) over one store, killed
at crash points and between steps, restarted under their names, with monitors that die,
a disk that fills up, a wall clock that jumps, and name locks the database drops under
live daemons (as a PostgreSQL restart does), so that a second daemon may take a name
whose first holder lives on. Everything random comes from the seed, so a failing seed
replays exactly: `python -m sim SEED` from tests/.

Chaos first, then calm (no more faults) until every job has ended. Checked throughout:
`core.invariants` hold for every stored job, the world's own checks (see world.py), and
that no recovery takes a job from a daemon that is alive.
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
from qrun.bootstrap.runtime.names import NameKeeper, Standing
from qrun.bootstrap.runtime.reaper import Reaper, Sanitizer
from qrun.bootstrap.runtime.worker import Worker, WorkerSettings
from qrun.core import Backoff, Cancel, FollowUp, Job, OrphanPolicy, Policy, Status, violations
from qrun.core.ports import JobStore, NameHold, NameTaken

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
    keeper: NameKeeper


class Names:
    """The store's name locks as PostgreSQL holds them: one holder per name, released
    when the holder dies, and dropped by the server while the holder lives (`drop`)."""

    def __init__(self) -> None:
        self.holders: dict[str, str] = {}

    @contextlib.contextmanager
    def lock(self, name: str, holder: str) -> Iterator[NameHold]:
        if name in self.holders:
            raise NameTaken(f"{name} is held by {self.holders[name]}")
        self.holders[name] = holder
        try:
            yield _Hold(lambda: self.holders.get(name) == holder)
        finally:
            self.drop(name, holder)

    def drop(self, name: str, holder: str) -> None:
        if self.holders.get(name) == holder:
            del self.holders[name]


class _Hold:
    def __init__(self, check: Callable[[], bool]) -> None:
        self.held = check


class Simulation:
    def __init__(
        self,
        seed: int,
        store: JobStore | None = None,
        *,
        chaos_steps: int = 300,
        runner: type[SimRunner] = SimRunner,
        trusts_the_lock: bool = False,
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
        self.live: list[Daemon] = []
        self.locks = Names()
        #: The old belief that a name's lock proves its earlier holders dead (tests show
        #: the simulation catches it).
        self.trusts_the_lock = trusts_the_lock
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
        keeper = NameKeeper(
            name,
            lambda: self.locks.lock(name, identity),
            check_s=LEASE_S / 3,
            monotonic=self.clock.monotonic,
            holder=lambda: self.locks.holders.get(name),
        )
        applier = Applier(self.store, Effects(runners), policy=self.policy, clock=self.clock, crash=hook)
        worker = Worker(
            self.store,
            runners,
            applier=applier,
            settings=WorkerSettings(
                name=name, slots=self.rng.randint(1, 4), lease_s=LEASE_S, identity=identity
            ),
            policy=self.policy,
            clock=self.clock,
            crash=hook,
            monotonic=self.clock.monotonic,
            acting=keeper.acting,
        )
        reaper = Reaper(self.store, runners, policy=self.policy, clock=self.clock, applier=applier)
        sanitizer = Sanitizer(self.store, policy=self.policy, clock=self.clock, applier=applier)
        daemon = Daemon(name, worker, reaper, sanitizer, keeper)
        try:
            keeper.take()
        except NameTaken:
            self.log(f"start {identity}: refused, {name} is held")
            return
        self.live.append(daemon)
        self.log(f"start {identity}")
        # What `qrun serve` does first, holding its name: heal, then recover the jobs of
        # its predecessors that are proven dead.
        self._as(daemon, lambda d: (d.sanitizer.tick(statuses=tuple(Status)), self._recover(d)))

    def _recover(self, d: Daemon) -> None:
        """`Worker.recover`, checked: it must leave every live daemon's jobs alone."""
        alive = {x.worker.id for x in self.live}
        before = {j.id: j.lease.worker for j in self.store.list() if j.lease is not None}
        dead = (lambda holder: True) if self.trusts_the_lock else (lambda holder: holder not in alive)
        recovered = d.worker.recover(d.name, dead)
        self.stats["recovered"] += recovered
        for job in self.store.list():
            was = before.get(job.id)
            now = job.lease.worker if job.lease is not None else None
            if was is not None and was != now and was in alive and was != d.worker.id:
                raise Violation(f"{d.worker.id} recovered job {job.id} from {was}, which is alive")

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
        for name in self.names:
            if name not in self.locks.holders:
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
        for d in list(self.live):
            choices.append((6.0, lambda d=d: self._as(d, lambda d: d.worker.tick(), "worker pass")))
            if d.keeper.acting():
                choices.append((1.5, lambda d=d: self._as(d, lambda d: _reap(d, self.stats), "reaper pass")))
            choices.append((1.5, lambda d=d: self._as(d, self._check_name, "name check")))
        moving = self.runner.moving()
        if moving:
            e = rng.choice(moving)
            choices.append((8.0, lambda e=e: self.log(f"{e.run_id}: {self.runner.step(e)}")))
        choices.append((3.0, self._advance))
        if self.chaos:
            free = [n for n in self.names if n not in self.locks.holders]
            if free:
                choices.append((1.0, lambda: self.start(rng.choice(free))))
            if self.live:
                choices.append((0.2, lambda: self._kill(rng.choice(self.live), "between steps")))
                choices.append((0.1, lambda: self._drop_lock(rng.choice(self.live))))
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
    def _as(self, daemon: Daemon, act: Callable[[Daemon], object], what: str | None = None) -> None:
        if what:
            self.log(f"{daemon.worker.id}: {what}")
        try:
            act(daemon)
        except SimCrash as crash:
            self._kill(daemon, str(crash))

    def _check_name(self, d: Daemon) -> None:
        standing = d.keeper.check()
        if standing is Standing.REGAINED:
            self.log(f"{d.worker.id} holds {d.name} again")
            self._recover(d)
        elif standing is Standing.TAKEN and not d.worker.inflight:
            self.live.remove(d)  # its runs ended under its leases: it exits
            self.stats["ousted daemon exits"] += 1
            self.log(f"{d.worker.id} exits: {d.name} is {d.keeper.taken_by}'s now")

    def _kill(self, daemon: Daemon, why: str) -> None:
        if daemon in self.live:
            self.live.remove(daemon)
        self.locks.drop(daemon.name, daemon.worker.id)  # the server ends a dead holder's lock
        self.stats["daemon killed"] += 1
        self.log(f"{daemon.worker.id} dies: {why}")

    def _drop_lock(self, daemon: Daemon) -> None:
        """A server restart, a failover or a terminated backend: the lock goes, the holder lives."""
        if self.locks.holders.get(daemon.name) == daemon.worker.id:
            self.locks.drop(daemon.name, daemon.worker.id)
            self.stats["name lock dropped"] += 1
            self.log(f"the database drops {daemon.worker.id}'s lock on {daemon.name}")

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
    seed: int,
    store: JobStore | None = None,
    *,
    chaos_steps: int = 300,
    runner: type[SimRunner] = SimRunner,
    trusts_the_lock: bool = False,
) -> Simulation:
    """Run one seed; raise `SimFailure` (with the replay command and the last steps) if a
    promise broke."""
    sim = Simulation(seed, store, chaos_steps=chaos_steps, runner=runner, trusts_the_lock=trusts_the_lock)
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
