"""What a submit inserts, decided purely (R-F1): a job whose unique key is held already
(by a stored job or an earlier job of the same batch) is not inserted, and resolves to
the holder's id; later jobs of the batch that depend on it depend on the holder."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs

from .job import Job
from .ports import DuplicateJob, UnknownDependency


def resolve(jobs: Sequence[Job], holder: Callable[[str], str | None]) -> tuple[list[Job], list[str]]:
    """The jobs to insert, and the id each submitted job resolves to, in order.
    `holder(slot)` is the id of the stored job holding a unique slot, or None."""
    fresh: list[Job] = []
    ids: list[str] = []
    replaced: dict[str, str] = {}
    taken: dict[str, str] = {}
    for submitted in jobs:
        job = remap(submitted, replaced)
        slot = job.unique_slot
        if slot is not None:
            held = taken.get(slot) or holder(slot)
            if held is not None:
                replaced[job.id] = held
                ids.append(held)
                continue
            taken[slot] = job.id
        fresh.append(job)
        ids.append(job.id)
    return fresh, ids


def remap(job: Job, replaced: dict[str, str]) -> Job:
    """`job` depending on the holders of the jobs a submit did not insert."""
    if not replaced or not any(d in replaced for d in job.depends_on):
        return job
    return attrs.evolve(job, depends_on=tuple(dict.fromkeys(replaced.get(d, d) for d in job.depends_on)))


def duplicates(jobs: Sequence[Job]) -> list[str]:
    """Ids that appear more than once among `jobs`, sorted."""
    seen: set[str] = set()
    dups: set[str] = set()
    for job in jobs:
        (dups if job.id in seen else seen).add(job.id)
    return sorted(dups)


def check(fresh: Sequence[Job], existing: Callable[[Sequence[str]], set[str]]) -> None:
    """Refuse the jobs a submit would insert, before any is written: an id twice in the
    batch or already stored (DuplicateJob), then a dependency neither stored nor in the
    batch (UnknownDependency). `existing(ids)` is the subset of `ids` the store holds."""
    dups = duplicates(fresh)
    if dups:
        raise DuplicateJob(f"job ids {', '.join(dups)} appear twice in the batch")
    stored = existing([j.id for j in fresh])
    if stored:
        raise DuplicateJob(f"job id(s) {', '.join(sorted(stored))} exist already; submit under new ids")
    wanted = sorted({d for j in fresh for d in j.depends_on} - {j.id for j in fresh})
    missing = set(wanted) - existing(wanted)
    if missing:
        raise UnknownDependency(
            f"job(s) depend on unknown job(s) {', '.join(sorted(missing))}; "
            "submit those first or in the same batch"
        )
