"""Why a job is not running now, decided purely (issue 29): every reason, in words a
person can act on. The caller reads what the reasons need (`Surroundings`) with a few
bounded queries; nothing here reads a store."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import attrs

from .daemons import DaemonSeen
from .job import Job, Status
from .pools import Pool, PoolState


@attrs.frozen(kw_only=True)
class Surroundings:
    now: datetime
    paused: frozenset[str] = frozenset()
    #: Each dependency's status; None: no such job (pruned, or never submitted).
    dependencies: Mapping[str, Status | None] = attrs.Factory(dict)
    #: The running jobs that hold the job's concurrency key.
    key_holders: tuple[str, ...] = ()
    #: The job's pool as the store reports it; None: not declared.
    pool: Pool | None = None
    #: The daemons that reported lately; None: the store keeps no reports.
    daemons: tuple[DaemonSeen, ...] | None = None


def why_waiting(job: Job, around: Surroundings) -> tuple[str, ...]:
    """Each reason `job` is not running now; () for a queued job the next claim takes,
    or for a job that is running or has ended."""
    if job.status is not Status.QUEUED:
        return _running(job) if job.status is Status.RUNNING else ()
    found: list[str] = []
    if job.available_at > around.now:
        when = job.available_at.isoformat(timespec="seconds")
        if job.error is not None:
            found.append(f"backing off until {when} after attempt {job.attempts} failed: {_first(job.error)}")
        else:
            found.append(f"scheduled for {when}")
    if job.queue in around.paused:
        found.append(f"its queue {job.queue} is paused: `qrun resume {job.queue}`")
    for dep in job.depends_on:
        status = around.dependencies.get(dep)
        if status is None:
            found.append(f"it depends on {dep}, which does not exist: `qrun cancel {job.id}`")
        elif status in (Status.FAILED, Status.CANCELLED):
            fix = f"`qrun retry {dep}` or `qrun cancel {job.id}`"
            found.append(f"it depends on {dep}, which ended {status.value}: {fix}")
        elif status is not Status.DONE:
            found.append(f"it waits for {dep} ({status.value}) to be done")
    key = job.concurrency_key
    if key is not None and len(around.key_holders) >= job.concurrency_limit:
        found.append(
            f"its concurrency key {key} allows {job.concurrency_limit} at once, held by "
            + ", ".join(around.key_holders)
        )
    if job.pool is not None:
        if around.pool is None:
            found.append(f"its pool {job.pool} is not declared: add [pools.{job.pool}] with a size")
        elif PoolState(around.pool.size, frozenset(around.pool.holders)).free() is None:
            found.append(f"its pool {job.pool} has all {around.pool.size} slot(s) in use")
    if around.daemons is not None:
        serving = [d for d in around.daemons if d.queues is None or job.queue in d.queues]
        if not serving:
            found.append(
                f"no live daemon serves its queue {job.queue}"
                + ("" if around.daemons else ": no daemon has reported lately; start `qrun serve`")
            )
        elif not any(d.kinds is None or job.kind in d.kinds for d in serving):
            found.append(
                f"no live daemon serving its queue can run kind {job.kind}: "
                "start one with the app that registers it (`qrun serve --app MODULE:ATTR`)"
            )
    return tuple(found)


def _running(job: Job) -> tuple[str, ...]:
    if job.cancel_requested:
        return ("stopping: a cancel was asked, its run is being killed",)
    if job.adoptable:
        return ("its daemon is gone: the next claim adopts the run",)
    return ()


def _first(error: str) -> str:
    line = error.strip().splitlines()[0] if error.strip() else error
    return line if len(line) <= 200 else line[:197] + "..."
