"""The writes a deployment makes before work flows: its schema, and its pools."""

from __future__ import annotations

from collections.abc import Mapping

from qrun.core.ports import JobStore

from ..config import PoolConfig


def declare_pools(store: JobStore, pools: Mapping[str, PoolConfig]) -> None:
    """The config is the declaration (R-E3): each pool gets its configured size. Done by
    `qrun migrate` and at daemon start-up, never by merely opening an app."""
    for name, pool in pools.items():
        store.set_pool(name, pool.size)
