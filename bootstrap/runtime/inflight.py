"""What a worker holds: its settings, and each run it has in flight."""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from qrun.core import Fence, Handle, Job
from qrun.core.errors import InvalidInput
from qrun.core.ports import Exit, Runner


def _at_least(low: float, strict: bool = False):  # type: ignore[no-untyped-def]
    def check(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
        if value < low or (strict and value == low):
            raise InvalidInput(f"{attribute.name} must be {'>' if strict else '>='} {low:g}, got {value}")

    return check


def _names(value: Sequence[str] | None) -> tuple[str, ...] | None:
    return tuple(value) if value is not None else None


@attrs.frozen
class WorkerSettings:
    """How a worker runs (`Config` gives each from a `QRUN_*` setting of the same name)."""

    name: str = "worker"
    slots: int = attrs.field(default=4, validator=_at_least(1))
    lease_s: float = attrs.field(default=30.0, validator=_at_least(0, strict=True))
    poll_s: float = 1.0
    #: At most this many exits in one write; a batch waits at most `complete_ms` for more.
    complete_batch: int = attrs.field(default=100, validator=_at_least(1))
    complete_ms: float = attrs.field(default=2.0, validator=_at_least(0))
    #: The queues it serves (None: all).
    queues: tuple[str, ...] | None = attrs.field(default=None, converter=_names)
    #: The pools whose jobs it takes (None: all). A daemon serves the pools it is
    #: configured with: another host's worktrees are not here (R-E3).
    serve_pools: tuple[str, ...] | None = attrs.field(default=None, converter=_names)
    #: Its worker id; by default a new one (`new_worker_id(name)`).
    identity: str | None = None

    @property
    def heartbeat_s(self) -> float:
        """R-G3: renewals at most a third of a lease apart."""
        return self.lease_s / 3


@attrs.define
class InFlight:
    job: Job  # the version this worker last claimed or wrote
    runner: Runner
    handle: Handle
    fresh: bool = False  # started by this worker (not adopted)
    watched: bool = False
    exit: Exit | None = None  # collected, not yet written
    ended_at: float = 0.0
    orphan_stop: bool = False  # adopted alive, stopped because its orphan policy says so

    @property
    def fence(self) -> Fence:
        return Fence.of(self.job)
