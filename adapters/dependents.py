"""The end of a dependency carried down the chain, in the transaction that wrote it
(`core.dependents`). Every store runs the same rounds through its own reads and writes;
a third-party store can too."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Protocol

from qrun.core import Decision, Job, Status
from qrun.core.dependents import ended, pending, revived, still_blocked


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


def settle(won: Iterable[Decision], rows: DependentRows) -> None:
    """Carry out the `EndDependents` and `ReviveDependents` of `won` (decisions just
    written), round by round, until no written decision announces another. Each job is
    decided at most once a round and twice in all, so even a cycle of dependencies (one
    batch can submit one) ends."""
    written = list(won)
    ends, revives = pending(written)
    decided: dict[str, int] = {}
    while ends or revives:
        decisions = ended(rows.queued_dependents(sorted(ends)), ends) if ends else []
        if revives:
            taken = {d.job.id for d in decisions}
            cancelled = [j for j in rows.cancelled_for(sorted(revives)) if j.id not in taken]
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
        ends, revives = pending(written)
