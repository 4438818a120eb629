"""Pool slots for a claim in progress, for both SQL stores: each pool's state is loaded
once per claim (under whatever makes the load atomic for that store) and slots are
taken from it as candidates are handed out, as `core.claim.pick` does."""

from __future__ import annotations

from collections.abc import Callable

from qrun.core.pools import PoolState


class SlotTaker:
    """`load(pool)` gives the pool's state, or None when it has no slot to give now
    (undeclared, or another claimer is handing out its slots)."""

    def __init__(self, load: Callable[[str], PoolState | None]) -> None:
        self._load = load
        self._states: dict[str, PoolState | None] = {}

    def take(self, pool: str) -> int | None:
        if pool not in self._states:
            self._states[pool] = self._load(pool)
        state = self._states[pool]
        slot = state.free() if state is not None else None
        if state is not None and slot is not None:
            self._states[pool] = state.take(slot)
        return slot
