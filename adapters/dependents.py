"""The end of a dependency carried down the chain, in the transaction that wrote it
(`core.dependents`). Every store runs the same rounds through its own reads and writes;
a third-party store can too."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Protocol

from qrun.core import Decision, Job, Status
from qrun.core.dependents import ended, pending, revived, still_blocked
from qrun.core.ports import Applied, ApplyResult


class DependentRows(Protocol):
    """What `settle` needs of a store, inside the transaction it writes in."""

    def queued_dependents(self, ids: Sequence[str]) -> Sequence[Job]:
        """The queued jobs that depend on any of `ids` (locked for the write, where the
        store locks rows)."""
        ...

    def cancelled_for(self, ids: Sequence[str]) -> Sequence[Job]:
        """The cancelled jobs whose `cancelled_for` is one of `ids`."""
        ...

    def statuses(self, ids: Sequence[str]) -> Mapping[str, Status]:
        """The status of each of `ids` that exists."""
        ...

    def write(self, decisions: Sequence[Decision]) -> Collection[str]:
        """Write `decisions` (compare-and-set, with their follow-ups); the ids written."""
        ...


def settle(won: Iterable[Decision], rows: DependentRows) -> dict[str, list[Decision]]:
    """Carry out the `EndDependents` and `ReviveDependents` of `won` (decisions just
    written), round by round, until no written decision announces another. Each job is
    decided at most once a round and twice in all, so even a cycle of dependencies (one
    batch can submit one) ends. Returns what was written, by the id of the job of `won`
    whose end or retry set it off (for `Applied.then`)."""
    written = list(won)
    root = {d.job.id: d.job.id for d in written}
    out: dict[str, list[Decision]] = {}
    ends, revives = pending(written)
    decided: dict[str, int] = {}
    while ends or revives:
        decisions = ended(rows.queued_dependents(sorted(ends)), ends) if ends else []
        cause = {d.job.id: d.job.cancelled_for or "" for d in decisions}  # the dependency that ended
        if revives:
            taken = {d.job.id for d in decisions}
            cancelled = [j for j in rows.cancelled_for(sorted(revives)) if j.id not in taken]
            cause |= {j.id: j.cancelled_for or "" for j in cancelled}  # the dependency retried
            again = [d.job for d in written if d.job.id in revives and d.job.id not in taken]
            deps = {dep for j in [*cancelled, *again] for dep in j.depends_on}
            status = rows.statuses(sorted(deps)).get
            decisions += revived(cancelled, revives, status)
            decisions += still_blocked(again, revives, status)
        decisions = [d for d in decisions if decided.get(d.job.id, 0) < 2]
        for d in decisions:
            decided[d.job.id] = decided.get(d.job.id, 0) + 1
        done = set(rows.write(decisions)) if decisions else set()
        written = [d for d in decisions if d.job.id in done]
        for d in written:
            origin = root.setdefault(d.job.id, root.get(cause.get(d.job.id, d.job.id), d.job.id))
            out.setdefault(origin, []).append(d)
        ends, revives = pending(written)
    return out


def attached(
    decisions: Sequence[Decision], results: Sequence[ApplyResult], cascade: Mapping[str, Sequence[Decision]]
) -> list[ApplyResult]:
    """`results` with what `settle` wrote because of each decision as its `Applied.then`."""
    if not cascade:
        return list(results)
    return [
        Applied(r.job, tuple(cascade[d.job.id])) if isinstance(r, Applied) and d.job.id in cascade else r
        for d, r in zip(decisions, results, strict=True)
    ]
