"""Job ids: time-ordered (a millisecond timestamp, then randomness), like UUIDv7.

Ids that grow with time keep a store's primary-key index hot at its right edge: every
state change of a recent job touches the same few index pages instead of a random page
of an index that also holds every finished job (measured in bench/bench_claim_scale.py).
"""

from __future__ import annotations

import secrets
import time


def new_id() -> str:
    """32 lower-case hex characters that sort by creation time (to the millisecond)."""
    return f"{time.time_ns() // 1_000_000:012x}{secrets.randbits(80):020x}"
