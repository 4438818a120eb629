"""Which queued candidates a claim may hand out, for both SQL stores, as `core.claim.pick`
decides it: within their concurrency key's limit and with a free slot of their pool.
Each key's running count and each pool's state are loaded once per claim, under whatever
makes the load atomic for that store (SQLite's write lock, PostgreSQL's advisory locks),
and spent as candidates are handed out."""

from __future__ import annotations

from collections.abc import Callable

from qrun.core import Job
from qrun.core.claim import Pick
from qrun.core.pools import PoolState


class Admission:
    """`running_with_key(key)`: the key's running jobs (infinite when another claimer is
    working on the key); `pool_state(pool)`: the pool's state, or None when it has no
    slot to give now (undeclared, or another claimer is handing out its slots)."""

    def __init__(
        self, running_with_key: Callable[[str], float], pool_state: Callable[[str], PoolState | None]
    ) -> None:
        self._count, self._load = running_with_key, pool_state
        self._used: dict[str, float] = {}
        self._states: dict[str, PoolState | None] = {}

    def admit(self, job: Job) -> Pick | None:
        """The pick for `job`, its key's place and pool's slot taken; None if it must wait."""
        key = job.concurrency_key
        if key is not None:
            if key not in self._used:
                self._used[key] = self._count(key)
            if self._used[key] >= job.concurrency_limit:
                return None
        slot = None
        if job.pool is not None:
            slot = self._take(job.pool)
            if slot is None:
                return None
        if key is not None:
            self._used[key] += 1
        return Pick(job, slot)

    def _take(self, pool: str) -> int | None:
        if pool not in self._states:
            self._states[pool] = self._load(pool)
        state = self._states[pool]
        slot = state.free() if state is not None else None
        if state is not None and slot is not None:
            self._states[pool] = state.take(slot)
        return slot
