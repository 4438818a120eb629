"""qrun's pure core: the job, its events and effects, and `decide`.

Nothing here reads a clock, performs I/O, logs or starts a thread; time is an argument
and effects are data. Adapters store what `decide` decided and carry out what it asked.
"""

from .batch import BatchSummary, Durations, summarize
from .claim import Claimed, Healed, Pick, decide_picks, pick
from .decide import TABLE, decide
from .decision import Decision, Rejection
from .effects import AdoptRun, DeleteInputs, Effect, EnqueueJob, Kill, Notify, Spawn, is_durable
from .errors import QrunError
from .events import (
    EVENT_TYPES,
    Adopt,
    Cancel,
    Claim,
    Event,
    Exited,
    Failed,
    Finished,
    Heartbeat,
    LeaseExpired,
    NothingToAdopt,
    Reap,
    ReapReason,
    Recover,
    Release,
    Retry,
    Sanitize,
    Spawned,
    SpawnFailed,
)
from .invariants import violations
from .job import TERMINAL, Fence, FollowUp, Handle, Job, Lease, OrphanPolicy, Run, Status, Step, Unique
from .policy import Backoff, Policy
from .pools import Pool, PoolState
from .reaper import Assessment, Gate, Liveness, Observation, assess, needs_gate

__all__ = [
    "EVENT_TYPES",
    "TABLE",
    "TERMINAL",
    "Unique",
    "Adopt",
    "AdoptRun",
    "Assessment",
    "Backoff",
    "BatchSummary",
    "Durations",
    "Cancel",
    "Claim",
    "Decision",
    "DeleteInputs",
    "Effect",
    "EnqueueJob",
    "Event",
    "Exited",
    "Failed",
    "Fence",
    "Finished",
    "FollowUp",
    "Gate",
    "Handle",
    "Heartbeat",
    "Job",
    "Kill",
    "Lease",
    "Step",
    "LeaseExpired",
    "Liveness",
    "NothingToAdopt",
    "Notify",
    "Observation",
    "Pick",
    "Claimed",
    "Healed",
    "decide_picks",
    "Pool",
    "PoolState",
    "OrphanPolicy",
    "QrunError",
    "Policy",
    "Reap",
    "ReapReason",
    "Recover",
    "Rejection",
    "Release",
    "Retry",
    "Run",
    "Sanitize",
    "Spawn",
    "SpawnFailed",
    "Spawned",
    "Status",
    "assess",
    "decide",
    "is_durable",
    "needs_gate",
    "pick",
    "summarize",
    "violations",
]
