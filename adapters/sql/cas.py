"""Batched compare-and-set for the SQL stores: the decisions of a batch that change the
same columns become one UPDATE, each row guarded by its own expected version and
returning the ids it wrote (the winners)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from qrun.core import Decision, Job
from qrun.core.ports import Applied, ApplyResult, Conflict, UniqueConflict, unique_conflict_message

from .codec import Codec

#: Names for the key columns of the source rows; never column names of the table (a
#: whole-row write sets `id` and `version` too).
KEYS = ("cas_id", "cas_version")


def by_columns(decisions: Sequence[Decision], codec: Codec) -> dict[tuple[str, ...], list[tuple[Any, ...]]]:
    """{columns a decision sets: [(id, expected version, *values), ...]}"""
    groups: dict[tuple[str, ...], list[tuple[Any, ...]]] = {}
    for d in decisions:
        columns, values = codec.changes(d)
        groups.setdefault(columns, []).append((d.job.id, d.expected_version, *values))
    return groups


def sets(columns: Sequence[str], source: str) -> str:
    return ", ".join(f"{c} = {source}.{c}" for c in columns)


def results(decisions: Sequence[Decision], won: set[str], current: Mapping[str, Job]) -> list[ApplyResult]:
    """One result per decision: a winner applied, any other a conflict with what is stored
    (`current`, read for the losers)."""
    return [Applied(d.job) if d.job.id in won else Conflict(current.get(d.job.id)) for d in decisions]


def taken_twice(decisions: Sequence[Decision]) -> UniqueConflict | None:
    """The refusal for a batch that gives one unique key to two of its jobs, if it does:
    the index only says that some row broke it, not which key or who holds it."""
    holders: dict[str, str] = {}
    for decision in decisions:
        job = decision.job
        slot = job.unique_slot
        if slot is None:
            continue
        held = holders.setdefault(slot, job.id)
        if held != job.id:
            return UniqueConflict(unique_conflict_message(job, held))
    return None
