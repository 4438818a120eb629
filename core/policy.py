"""Retry, backoff and reaper settings. Pure: jitter is derived from the job and the
attempt, never from a random source, so the same inputs always give the same delay."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import attrs

from .errors import InvalidInput


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value > 0:
        raise InvalidInput(f"{attribute.name} must be > 0, got {value!r}")


def _not_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not value >= 0:
        raise InvalidInput(f"{attribute.name} must be >= 0, got {value!r}")


def _fraction(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not 0 <= value < 1:
        raise InvalidInput(f"{attribute.name} must be in [0, 1), got {value!r}")


@attrs.frozen
class Backoff:
    """`base_s * factor ** (n - 1)`, capped at `cap_s`, minus up to `jitter` of itself.

    Jitter spreads retries of jobs that failed together; it only ever shortens the
    delay, so `cap_s` stays a true upper bound.
    """

    base_s: float = attrs.field(default=1.0, validator=_not_negative)
    factor: float = attrs.field(default=2.0, validator=_positive)
    cap_s: float = attrs.field(default=300.0, validator=_not_negative)
    jitter: float = attrs.field(default=0.1, validator=_fraction)

    def delay(self, job_id: str, n: int) -> timedelta:
        """The delay before retry number `n` (1-based) of job `job_id`."""
        n = max(1, n)
        raw = min(self.cap_s, self.base_s * self.factor ** min(n - 1, 64))
        digest = hashlib.blake2b(f"{job_id}:{n}".encode(), digest_size=8).digest()
        unit = int.from_bytes(digest, "big") / 2**64
        return timedelta(seconds=raw * (1 - self.jitter * unit))


@attrs.frozen
class Policy:
    """Everything `decide` and `reaper.assess` need to know besides the job and the event."""

    backoff: Backoff = Backoff()
    transient_backoff: Backoff = Backoff(base_s=5.0, cap_s=600.0)
    max_transient_attempts: int = 20
    # Spawns that failed in a row (R-C5): the first is retried at once, the next ones
    # after `spawn_backoff`, and at `max_spawn_failures` the job fails with an alert.
    spawn_backoff: Backoff = Backoff(base_s=1.0, cap_s=60.0)
    max_spawn_failures: int = 10
    dead_ticks: int = 2
    finalize_grace_s: float = attrs.field(default=300.0, validator=_not_negative)
    max_running_s: float = attrs.field(default=24 * 3600.0, validator=_positive)

    def __attrs_post_init__(self) -> None:
        if self.dead_ticks < 1:
            raise InvalidInput(f"dead_ticks must be >= 1, got {self.dead_ticks}")
        if self.max_spawn_failures < 1:
            raise InvalidInput(f"max_spawn_failures must be >= 1, got {self.max_spawn_failures}")
        if self.max_transient_attempts < 0:
            raise InvalidInput(f"max_transient_attempts must be >= 0, got {self.max_transient_attempts}")
