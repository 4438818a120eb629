"""The statements of resource pools (R-E3) for both SQL dialects, and the pools built
from their rows. A slot is held exactly while `pool_slot` is set (the core clears it on
every way out of `running`), which is what the unique index on (pool, pool_slot) keys."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from qrun.core.pools import Pool, PoolState


class PoolSql:
    def __init__(self, jobs: str, pools: str, mark: str) -> None:
        m = mark
        self.upsert = (
            f"INSERT INTO {pools} (name, size) VALUES ({m}, {m}) "
            "ON CONFLICT (name) DO UPDATE SET size = excluded.size"
        )
        self.size = f"SELECT size FROM {pools} WHERE name = {m}"
        self.held_slots = f"SELECT pool_slot FROM {jobs} WHERE pool = {m} AND pool_slot IS NOT NULL"
        self.holders = f"SELECT pool, pool_slot, id FROM {jobs} WHERE pool_slot IS NOT NULL"
        self.sizes = f"SELECT name, size FROM {pools} ORDER BY name"


def pool_state(size: Sequence[Any] | None, held: Iterable[Sequence[Any]]) -> PoolState | None:
    """A claim's view of a pool from its `size` row (None: not declared) and `held_slots` rows."""
    if size is None:
        return None
    return PoolState(int(size[0]), frozenset(int(r[0]) for r in held))


def pools_of(sizes: Iterable[Sequence[Any]], holders: Iterable[Sequence[Any]]) -> dict[str, Pool]:
    """Every declared pool with who holds which slot, from `sizes` and `holders` rows."""
    held: dict[str, dict[int, str]] = {}
    for pool, slot, job_id in holders:
        held.setdefault(pool, {})[int(slot)] = job_id
    return {name: Pool(name, int(size), held.get(name, {})) for name, size in sizes}
