"""Which jobs a claim hands out, decided purely (R-A3, R-E3, R-F1).

A job whose row breaks the invariants (`core.invariants`: a queued job holding a run, a
lease or a start stamp, say) is never handed out: the claim that meets it heals it as the
sanitizer would, in the same write, and says so (`Claimed.healed`, R-C1, R-C4).

Adoptable jobs (running, lease cleared) come first: their executions may still be
alive and are cheaper to adopt than to re-run. Then queued jobs that are available,
whose dependencies are all done, whose concurrency key has room and whose pool (if it
needs one) has a free slot, by priority
(higher first), `available_at`, `requested_at` and id. SQL stores express the same
order in their queries; the contract suite holds them to this function's answers.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime

import attrs
from returns.result import Success

from .decide import decide
from .decision import Decision
from .events import Adopt, Claim, Sanitize
from .invariants import violations
from .job import Job, Status
from .policy import Policy
from .pools import PoolState


def _names(value: Iterable[str] | None) -> tuple[str, ...] | None:
    return tuple(value) if value is not None else None


@attrs.frozen
class ClaimRequest:
    """What a claimer asks a store for: up to `limit` jobs for `worker`, leased until
    `lease_until`, decided at `now` under `policy`; only jobs of `queues`, of jobs that
    need a pool only those of `pools`, and only jobs of `kinds` (None: any). One value,
    so no store or caller forwards seven arguments by hand (and forgets one)."""

    worker: str
    limit: int
    now: datetime
    lease_until: datetime
    policy: Policy = Policy()
    queues: tuple[str, ...] | None = attrs.field(default=None, converter=_names)
    pools: tuple[str, ...] | None = attrs.field(default=None, converter=_names)
    kinds: tuple[str, ...] | None = attrs.field(default=None, converter=_names)


def run_id_for(job: Job) -> str:
    """The id of the run a claim of `job` starts: unique because versions only grow, and
    deterministic, so every store names the same run the same way."""
    return f"{job.id}/{job.version + 1}"


def queue_order(job: Job) -> tuple[int, datetime, datetime, str]:
    return (-job.priority, job.available_at, job.requested_at, job.id)


def adopt_order(job: Job) -> tuple[int, datetime, str]:
    assert job.started_at is not None
    return (-job.priority, job.started_at, job.id)


def ready(job: Job, now: datetime, is_done: Callable[[str], bool]) -> bool:
    """A queued job that may start now, concurrency aside."""
    return (
        job.status is Status.QUEUED
        and job.available_at <= now
        and all(is_done(dep) for dep in job.depends_on)
    )


def in_scope(
    job: Job,
    queues: frozenset[str] | None,
    served_pools: frozenset[str] | None,
    kinds: frozenset[str] | None = None,
) -> bool:
    """Whether a claimer serving `queues`, `served_pools` and `kinds` (None: all) may
    take `job`: a daemon takes only the kinds it has a runner (or a task) for, and a job
    outside any pool needs nothing a claimer could lack."""
    if queues is not None and job.queue not in queues:
        return False
    if kinds is not None and job.kind not in kinds:
        return False
    return served_pools is None or job.pool is None or job.pool in served_pools


@attrs.frozen
class Pick:
    """A job a claim hands out and, for a queued job that needs a pool, the slot it takes."""

    job: Job
    slot: int | None = None

    def event(self, worker: str, lease_until: datetime) -> Adopt | Claim:
        if self.job.adoptable:
            return Adopt(worker, lease_until)  # an adopted run keeps the slot it holds
        return Claim(worker, run_id_for(self.job), lease_until, self.slot)


def pick(
    jobs: Iterable[Job],
    *,
    now: datetime,
    limit: int,
    running_per_key: Mapping[str, int],
    is_done: Callable[[str], bool],
    queues: frozenset[str] | None = None,
    paused: frozenset[str] = frozenset(),
    pools: Mapping[str, PoolState] | None = None,
    served_pools: frozenset[str] | None = None,
    kinds: frozenset[str] | None = None,
) -> list[Pick]:
    """Up to `limit` jobs to claim, in the order they are handed out. A job whose pool
    has no free slot (or is not declared) is passed over, never waited for (R-E3).
    `queues` and `served_pools` say what the claimer serves (None: all): a job of a pool
    outside `served_pools` is left for a claimer that has that pool's resources."""
    if limit <= 0:
        return []
    candidates = [j for j in jobs if in_scope(j, queues, served_pools, kinds)]
    chosen = [
        Pick(j) for j in heapq.nsmallest(limit, (j for j in candidates if j.adoptable), key=adopt_order)
    ]
    used: Counter[str] = Counter(running_per_key)
    slots = dict(pools or {})
    # A heap, not a sort: a claim usually takes a few jobs out of many.
    heap = [(queue_order(j), j) for j in candidates if j.queue not in paused and ready(j, now, is_done)]
    heapq.heapify(heap)
    while heap and len(chosen) < limit:
        _, job = heapq.heappop(heap)
        key = job.concurrency_key
        if key is not None and used[key] >= job.concurrency_limit:
            continue
        slot = None
        if job.pool is not None:
            state = slots.get(job.pool)
            slot = state.free() if state is not None else None
            if state is None or slot is None:
                continue
            slots[job.pool] = state.take(slot)
        if key is not None:
            used[key] += 1
        chosen.append(Pick(job, slot))
    return chosen


@attrs.frozen
class Healed:
    """An impossible row a claim met (`before`) and the decision that healed it."""

    before: Job
    decision: Decision

    @property
    def found(self) -> str:
        return "; ".join(violations(self.before))


class Claimed(list[Decision]):
    """A claim's decisions, in hand-out order, and `healed`: the impossible rows it met
    and healed instead of handing them out (R-C1, R-C4), written with it."""

    def __init__(self, claims: Iterable[Decision] = (), healed: Iterable[Healed] = ()) -> None:
        super().__init__(claims)
        self.healed = list(healed)

    @property
    def writes(self) -> list[Decision]:
        """Everything the claim writes: its claims and its heals."""
        return [*self, *(h.decision for h in self.healed)]


def decide_picks(
    picks: Iterable[Pick], worker: str, lease_until: datetime, now: datetime, policy: Policy
) -> Claimed:
    """What a claim writes for `picks`: each coherent job claimed (or adopted) by
    `worker`, each impossible one healed (`Sanitize`) instead. A pick `decide` refuses
    is passed over."""
    claims: list[Decision] = []
    healed: list[Healed] = []
    for choice in picks:
        if violations(choice.job):
            heal = decide(choice.job, Sanitize(), now, policy)
            if isinstance(heal, Success):
                healed.append(Healed(choice.job, heal.unwrap()))
            continue
        result = decide(choice.job, choice.event(worker, lease_until), now, policy)
        if isinstance(result, Success):
            claims.append(result.unwrap())
    return Claimed(claims, healed)
