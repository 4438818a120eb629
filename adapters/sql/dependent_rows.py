"""The rows `adapters.dependents.settle` reads and writes, in SQL, inside the transaction
that wrote the dependency's end: the queued jobs that depend on it (through the
dependency table's index), the jobs cancelled for it, and a compare-and-set of each."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qrun.core import Decision, Job, Status

from .codec import COLUMNS

_COLS = ", ".join(COLUMNS)


class DependentRows:
    def __init__(self, tx: Any, dialect: Any, jobs: str, deps: str) -> None:
        """`tx` runs statements in the open transaction; `dialect` is the store's."""
        self._tx, self._d, self._t, self._deps = tx, dialect, jobs, deps

    def queued_dependents(self, ids: Sequence[str]) -> list[Job]:
        return self._jobs("queued", ids, lock=True)

    def cancelled_for(self, ids: Sequence[str]) -> list[Job]:
        wanted = set(ids)
        return [j for j in self._jobs("cancelled", ids, lock=True) if j.cancelled_for in wanted]

    def statuses(self, ids: Sequence[str]) -> dict[str, Status]:
        found: dict[str, Status] = {}
        for clause, args in self._d.ids_in("id", list(ids)):
            rows = self._tx.execute(f"SELECT id, status FROM {self._t} WHERE {clause}", args).fetchall()
            found.update((r[0], Status(r[1])) for r in rows)
        return found

    def write(self, decisions: Sequence[Decision]) -> list[str]:
        d = self._d
        sets = ", ".join(f"{c} = {d.mark}" for c in COLUMNS)
        sql = f"UPDATE {self._t} SET {sets} WHERE id = {d.mark} AND version = {d.mark} RETURNING id"
        written = []
        for decision in decisions:
            row = self._tx.execute(
                sql, (*d.codec.row(decision.job), decision.job.id, decision.expected_version)
            )
            if row.fetchone() is not None:
                written.append(decision.job.id)
        return written

    def _jobs(self, status: str, ids: Sequence[str], *, lock: bool) -> list[Job]:
        """The jobs of `status` that depend on any of `ids`, in id order (rows are locked
        in one order, so two transactions never wait on each other's)."""
        d = self._d
        found: dict[str, Job] = {}
        for clause, args in d.ids_in("x.dep_id", list(ids)):
            rows = self._tx.execute(
                f"SELECT {_COLS} FROM {self._t} WHERE status = {d.mark} AND id IN "
                f"(SELECT x.job_id FROM {self._deps} x WHERE {clause}) ORDER BY id"
                f"{d.lock_rows if lock else ''}",
                (status, *args),
            ).fetchall()
            found.update((job.id, job) for job in map(d.codec.job, rows))
        return [found[i] for i in sorted(found)]
