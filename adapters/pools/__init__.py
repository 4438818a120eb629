"""Pool adapters (R-E3): what a slot of a pool is on this host, made ready for a job."""

from qrun.core.pools import Placement

from .worktree import GitWorktreePool, PoolPrepareError

__all__ = ["GitWorktreePool", "Placement", "PoolPrepareError"]
