"""Resource pools (R-E3): a named set of numbered slots (a git worktree, a GPU, a
licence). A running job that needs a pool holds one slot; the claim takes the lowest
free one and every way out of `running` gives it back (see `decide`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .errors import InvalidInput
from .job import Job, Status


@attrs.frozen
class PoolState:
    """How many slots a pool has and which are held. Slots at or past `size` may still be
    held after the pool shrank; they are never handed out again."""

    size: int
    held: frozenset[int] = frozenset()

    def free(self) -> int | None:
        """The lowest slot nobody holds, or None if the pool is exhausted."""
        return next((s for s in range(self.size) if s not in self.held), None)

    def take(self, slot: int) -> PoolState:
        return attrs.evolve(self, held=self.held | {slot})


@attrs.frozen
class Pool:
    """A pool as a store reports it: its size and who holds which slot."""

    name: str
    size: int
    holders: Mapping[int, str] = attrs.field(factory=dict)  # slot -> job id

    @property
    def in_use(self) -> int:
        return len(self.holders)


def check_size(name: str, size: int) -> None:
    if not name:
        raise InvalidInput("a pool needs a non-empty name")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise InvalidInput(f"pool {name!r}: size must be a whole number >= 0, got {size!r}")


def holders(jobs: Iterable[Job]) -> dict[str, dict[int, str]]:
    """pool -> {slot: job id} of the running jobs among `jobs`."""
    out: dict[str, dict[int, str]] = {}
    for job in jobs:
        if job.status is Status.RUNNING and job.pool is not None and job.pool_slot is not None:
            out.setdefault(job.pool, {})[job.pool_slot] = job.id
    return out


def states(sizes: Mapping[str, int], held: Mapping[str, Iterable[int]]) -> dict[str, PoolState]:
    """The claim's view of every declared pool. An undeclared pool has no slots."""
    return {name: PoolState(size, frozenset(held.get(name, ()))) for name, size in sizes.items()}


@attrs.frozen
class Placement:
    """Where a job holding a slot runs: the slot's directory (if it has one) and the
    environment that tells the job which slot it is."""

    cwd: str | None = None
    env: Mapping[str, str] = attrs.field(factory=dict)


def place(job: Job, placement: Placement) -> Job:
    """`job` as its runner should see it: a command runs in the slot's directory (a
    relative `cwd` of the payload is taken inside it) with the slot's environment added;
    a container gets the environment. Every job learns its pool and slot from
    QRUN_POOL / QRUN_POOL_SLOT."""
    held = job.holding
    if held is None:
        return job
    env = {"QRUN_POOL": held[0], "QRUN_POOL_SLOT": str(held[1]), **placement.env}
    payload: dict[str, Any] = dict(job.payload)
    if job.kind == "command":
        if placement.cwd is not None:
            given = payload.get("cwd")
            payload["cwd"] = _inside(placement.cwd, given) if isinstance(given, str) else placement.cwd
        payload["env"] = {**env, **(payload.get("env") or {})}
    elif job.kind == "container":
        payload["env"] = {**env, **(payload.get("env") or {})}
    else:
        return job  # a python task's payload is its arguments; it reads job.pool_slot if it must
    return attrs.evolve(job, payload=payload)


def _inside(root: str, path: str) -> str:
    """`path` taken inside `root` unless it is absolute (os.path.join on POSIX)."""
    if path.startswith("/") or not root:
        return path
    return f"{root.rstrip('/')}/{path}"
