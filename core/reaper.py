"""The reaper's judgement, pure: given what was observed of a running job, is it to be
reaped, and why? The runtime observes (liveness, the success gate) and remembers the
dead-tick streak; this module only judges.

Tiers, checked in this order:
- Tier 3, the ceiling (R-B3): seen running longer than `max_running_s` is reaped
  whatever the liveness says. It is the only tier that can reap a job with no handle
  (R-C3). The time is `Job.ran_s`, what live workers' heartbeats measured on their
  monotonic clocks, never the wall clock: a clock set forward does not age a run. A run
  whose exit is recorded is over, so tier 2, not the ceiling, ends it.
- Tier 2, the exit code (R-B4, R-B5): once an exit code has been recorded for at least
  `finalize_grace_s`, exit 0 asks the success gate (green: done with the follow-up;
  red: requeue; already advanced: done without a second follow-up) and a non-zero exit
  requeues or fails. Within the grace a finalizing monitor is left alone.
- Tier 1, liveness (R-B1, R-B2): `dead_ticks` consecutive dead observations reap;
  an alive observation resets the streak; unknown leaves it as it was.
"""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

import attrs

from .events import Reap, ReapReason
from .job import Job, Status
from .policy import Policy


class Liveness(enum.Enum):
    ALIVE = "alive"
    DEAD = "dead"
    UNKNOWN = "unknown"


class Gate(enum.Enum):
    """The success gate's read-only answer for a job that exited 0 (R-B4)."""

    GREEN = "green"
    RED = "red"
    ADVANCED = "advanced"


@attrs.frozen
class Observation:
    liveness: Liveness = Liveness.UNKNOWN
    gate: Gate | None = None


@attrs.frozen
class Assessment:
    """`reap` is the event to decide, if any; `dead_streak` is the streak to remember."""

    reap: Reap | None
    dead_streak: int
    why: str


def needs_gate(job: Job, now: datetime, policy: Policy) -> bool:
    """Whether tier 2 will ask the success gate about this job now."""
    run = job.run
    return (
        job.status is Status.RUNNING
        and run is not None
        and run.exit_code == 0
        and _grace_over(run.exit_recorded_at, now, policy)
    )


def _grace_over(recorded: datetime | None, now: datetime, policy: Policy) -> bool:
    return recorded is not None and now - recorded >= timedelta(seconds=policy.finalize_grace_s)


def assess(
    job: Job, observation: Observation, now: datetime, policy: Policy, dead_streak: int = 0
) -> Assessment:
    if job.status is not Status.RUNNING or job.run is None:
        return Assessment(None, 0, "not running")
    run = job.run
    if run.exit_code is None and job.ran_s >= policy.max_running_s:
        return Assessment(Reap(ReapReason.CEILING), dead_streak, "running past the ceiling")
    if run.exit_code is not None:
        if not _grace_over(run.exit_recorded_at, now, policy):
            return Assessment(None, 0, "finalizing, within the grace")
        if run.exit_code != 0:
            return Assessment(Reap(ReapReason.EXIT_FAILED), 0, f"exit code {run.exit_code}")
        reason = {
            Gate.GREEN: ReapReason.EXIT_OK,
            Gate.RED: ReapReason.EXIT_OK_GATE_RED,
            Gate.ADVANCED: ReapReason.EXIT_OK_ADVANCED,
            None: None,
        }[observation.gate]
        if reason is None:
            return Assessment(None, 0, "exit 0 but the success gate was not consulted")
        return Assessment(Reap(reason), 0, f"exit 0, gate {observation.gate.value}")  # type: ignore[union-attr]
    if run.handle is None:
        return Assessment(None, 0, "no handle yet: only the ceiling applies")
    if observation.liveness is Liveness.ALIVE:
        return Assessment(None, 0, "alive")
    if observation.liveness is Liveness.UNKNOWN:
        return Assessment(None, dead_streak, "liveness unknown")
    streak = dead_streak + 1
    if streak >= policy.dead_ticks:
        return Assessment(Reap(ReapReason.DEAD), streak, f"dead for {streak} ticks")
    return Assessment(None, streak, f"dead for {streak} of {policy.dead_ticks} ticks")
