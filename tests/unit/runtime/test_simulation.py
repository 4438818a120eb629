"""The deterministic simulation (tests/sim): the real worker, reaper, sanitizer and
applier on the memory store, with simulated runners, clock and crashes. 1,000 seeds by
default (`QRUN_SIM_SEEDS=N` for more); a failure names its seed and how to replay it."""

import os
from collections import Counter

import pytest
from sim import SimFailure, Simulation, simulate
from sim.run import quiet
from sim.world import Execution, SimRunner

from qrun.adapters.crashpoints import POINTS
from qrun.core import Status
from qrun.core.ports import Gone

SEEDS = int(os.environ.get("QRUN_SIM_SEEDS", "1000"))
CHUNKS = 20


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_every_seed_keeps_every_promise(chunk):
    """Per seed: every job ends, none is lost, no execution is left running, none starts
    while an earlier one of its job may run or after one recorded exit 0, follow-ups
    exist exactly for done jobs, and every stored job is coherent after every step."""
    for seed in range(chunk, SEEDS, CHUNKS):
        simulate(seed)


def test_the_seeds_meet_every_fault_they_are_meant_to():
    """A simulation that never crashes at a point proves nothing about it."""
    seen: Counter[str] = Counter()
    for seed in range(10_000, 10_300):
        sim = simulate(seed)
        seen.update(sim.stats)
        seen.update(f"job {j.status.value}" for j in sim.store.list())
    runtime_points = [p for p in POINTS if not p.startswith("monitor.")]
    missing = [p for p in runtime_points if not seen[f"crash at {p}"]]
    assert not missing, f"no seed crashed at {missing}: {seen}"
    faults = ("daemon killed", "monitor killed", "disk full", "clock set forward", "clock set back")
    for fault in (*faults, "name lock dropped", "ousted daemon exits"):
        assert seen[fault] > 0, f"no seed met {fault!r}: {seen}"
    for status in Status:
        if status is not Status.QUEUED and status is not Status.RUNNING:
            assert seen[f"job {status.value}"] > 0, seen
    for reaped in ("ceiling", "dead", "exit_ok", "exit_failed"):
        assert seen[f"reaped: reaped ({reaped})"] > 0, seen


class StartsWhatItGaveUp(SimRunner):
    """The spawn protocol as it was: an adopter that finds no monitor reports the run
    gone but does not claim it, so a late monitor still starts the command."""

    def adopt(self, job, run):
        e: Execution | None = self.runs.get(run.id)
        if e is not None and not e.claimed:
            return Gone()  # without giving the run up
        return super().adopt(job, run)


def first_failure(runner, seeds=range(400)):
    for seed in seeds:
        try:
            simulate(seed, runner=runner)
        except SimFailure as failure:
            return seed, str(failure)
    return None, None


def test_the_simulation_catches_a_run_started_twice():
    """The chaos finding (a worker killed between spawn and the monitor's claim ran a
    finished command again), put back into the runner: the simulation finds a seed."""
    seed, failure = first_failure(StartsWhatItGaveUp)
    assert seed is not None, "no seed caught a run that a late monitor starts after adoption"
    assert "starts" in failure and f"python -m sim {seed}" in failure


def test_the_simulation_catches_a_recovery_that_trusts_the_name_lock():
    """Before issue 28 a daemon that took a name recovered every job of earlier holders
    at once: a dropped lock let it take the jobs of a holder still alive."""
    caught = None
    for seed in range(400):
        try:
            simulate(seed, trusts_the_lock=True)
        except SimFailure as failure:
            caught = str(failure)
            break
    assert caught is not None, "no seed caught a recovery of a live daemon's jobs"
    assert "which is alive" in caught


def test_a_failing_seed_replays_step_for_step():
    seed, _ = first_failure(StartsWhatItGaveUp)
    traces = []
    for _ in range(2):
        sim = Simulation(seed, runner=StartsWhatItGaveUp)
        with quiet(), pytest.raises(AssertionError):
            sim.run()
        traces.append(sim.trace)
    assert traces[0] == traces[1] and len(traces[0]) > 10
