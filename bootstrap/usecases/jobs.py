"""Jobs: submit (one, many, periodic), run at once, cancel, retry, look up and wait."""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from qrun.adapters.ids import new_id
from qrun.core import Backoff, Cancel, Handle, Job, Retry, Run, Status, Unique
from qrun.core.errors import InvalidInput, NotFound, Unsupported
from qrun.core.job import MAX_DELAY_S
from qrun.core.ports import AsyncStore, DaemonRegistry, Exit, JobFilter, RunLogs
from qrun.core.waiting import Surroundings, why_waiting

from ..runtime.apply import Outcome
from ..runtime.paging import all_jobs
from ..runtime.periodic import Periodic
from .base import Parts
from .payloads import check_payload


def as_backoff(value: Any) -> Backoff | None:
    """A job's or task's `backoff`: a Backoff, or its fields as a mapping (from JSON)."""
    if value is None or isinstance(value, Backoff):
        return value
    if isinstance(value, Mapping):
        wrong = sorted(set(value) - {"base_s", "factor", "cap_s", "jitter"})
        if wrong:
            raise InvalidInput(f"backoff takes base_s, factor, cap_s and jitter, not {', '.join(wrong)}")
        try:
            return Backoff(**value)
        except (TypeError, ValueError) as exc:
            raise InvalidInput(f"backoff: {exc}") from None
    raise InvalidInput(
        f"backoff must be a Backoff or a mapping of base_s, factor, cap_s, jitter; got {value!r}"
    )


def _statuses(names: Any) -> list[Status]:
    if isinstance(names, str):
        names = [n for n in names.split(",") if n]
    try:
        return [Status(n) for n in names]
    except ValueError:
        raise InvalidInput(f"unique_finished takes done, failed or cancelled, got {list(names)}") from None


class JobCases(Parts):
    def submit(
        self,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        inputs: Mapping[str, bytes] | None = None,
        connection: Any = None,
        **options: Any,
    ) -> str:
        """Submit one job now; returns its id. `inputs` are stored first (R-A1) and removed
        again if the submit is refused. `options` are those of `Job.new`, and `unique_key`
        with `unique_finished` (status names) for a unique job (R-F1): if a job holds the
        key, its id is returned and nothing is added. `connection`: your open psycopg
        transaction, which the submit joins (R-F5): the job exists only if you commit."""
        job = self._prepared(kind, payload, options)
        if connection is not None:
            got = self._joining(inputs).submit([job], connection=connection)[0]
            self.worker.wake.set()
            return got
        for name, data in (inputs or {}).items():
            self.inputs.put(job.id, name, data)
        try:
            got = self.store.submit([job])[0]
        except BaseException:
            self.inputs.delete(job.id)
            raise
        if got != job.id:
            self.inputs.delete(job.id)  # an existing job holds the key: nothing was added
            return got
        if inputs and job.depends_on and (stored := self.store.get(job.id)) and stored.status.terminal:
            self.inputs.delete(job.id)  # born cancelled (its dependency ended badly): never run
        self._submitted([job], [got])
        return got

    def _prepared(self, kind: str, payload: Mapping[str, Any] | None, options: dict[str, Any]) -> Job:
        check_payload(kind, payload)  # refuse a malformed command now, not on a worker
        job = self._job(kind, payload, options, now=self.clock.now())
        self._check_pools([job])
        return job

    def _joining(self, inputs: Mapping[str, bytes] | None = None) -> AsyncStore:
        """The store, for a submit in the caller's transaction (R-F5)."""
        if inputs:
            raise Unsupported(
                "inputs are files, which cannot join your transaction: submit them without "
                "connection=, or pass the data by reference"
            )
        if not isinstance(self.store, AsyncStore):
            raise Unsupported(
                f"{type(self.store).__name__} cannot join your transaction: a submit with "
                "connection= needs the PostgreSQL store (a postgresql:// database_url)"
            )
        return self.store

    def submit_batch(
        self, jobs: Iterable[Mapping[str, Any]], *, batch: str | None = None, **common: Any
    ) -> str:
        """Submit many jobs in one transaction, all or none, under one batch id (R-E1);
        returns the id. Each item is `{"kind": ..., "payload": {...}, **options}` with the
        options of `submit`; `common` options apply to every item that does not set them."""
        batch, made = self._batch(jobs, batch, common)
        self._submitted(made, self.store.submit(made))
        return batch

    def _batch(
        self, jobs: Iterable[Mapping[str, Any]], batch: str | None, common: Mapping[str, Any]
    ) -> tuple[str, list[Job]]:
        batch = batch or f"b-{new_id()}"
        now = self.clock.now()
        made: list[Job] = []
        for i, item in enumerate(jobs):
            spec = {**common, **item}
            try:
                kind, payload = spec.pop("kind", "command"), spec.pop("payload", None)
                check_payload(kind, payload)
                made.append(self._job(kind, payload, {**spec, "batch": batch}, now=now))
            except (ValueError, TypeError) as exc:
                raise InvalidInput(f"batch item {i}: {exc}") from None
        if not made:
            raise InvalidInput("a batch needs at least one job")
        self._check_pools(made)
        return batch, made

    def _submitted(self, made: Sequence[Job], ids: Sequence[str]) -> None:
        """A worker of this process starts them without waiting for a poll; the test
        helpers' eager mode runs them now."""
        self.worker.wake.set()
        if self.after_submit is not None:
            for job, got in zip(made, ids, strict=True):
                if got == job.id:
                    self.after_submit(got)

    def _job(self, kind: str, payload: Mapping[str, Any] | None, options: dict[str, Any], *, now: Any) -> Job:
        self._check_size(payload)
        self._check_task(kind, payload)
        options = self._task_defaults(kind, payload, options)
        if "backoff" in options:
            options["backoff"] = as_backoff(options["backoff"])
        key, finished = options.pop("unique_key", None), options.pop("unique_finished", ())
        if key:
            options["unique"] = Unique(key, frozenset(_statuses(finished)))
        if delay := options.pop("delay_s", None):
            if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay <= MAX_DELAY_S:
                raise InvalidInput(
                    f"delay_s must be a number of seconds from 0 to {MAX_DELAY_S:.0f}, got {delay!r}"
                )
            options["available_at"] = now + timedelta(seconds=delay)
        job_id = options.pop("id", None) or new_id()
        return Job.new(id=job_id, kind=kind, now=now, payload=payload, **options)

    def _task_defaults(self, kind: str, payload: Any, options: dict[str, Any]) -> dict[str, Any]:
        """`options` over the task's own; a unique task's key is its name and arguments."""
        given = dict(self.task_options.get(kind, {}))
        if given.pop("unique", False) and "unique_key" not in options:
            digest = hashlib.sha256(json.dumps(payload or {}, sort_keys=True).encode()).hexdigest()[:32]
            given["unique_key"] = f"{kind}:{digest}"
        return {**given, **options}

    def _check_task(self, kind: str, payload: Mapping[str, Any] | None) -> None:
        """A task's arguments must fit its function, and, in an app that registers tasks,
        a kind no runner knows is a typo: both refused now, not after three failed
        attempts on a worker. An app with no tasks may submit for other apps' workers."""
        fn = self.tasks.get(kind)
        if fn is None:
            if kind not in self.runners and self.tasks.names():
                known = ", ".join(self.tasks.names())
                raise InvalidInput(f"no task named {kind!r} in this app (its tasks: {known}); check the name")
            return
        signature = inspect.signature(fn)
        try:
            signature.bind(**(payload or {}))
        except TypeError as exc:
            raise InvalidInput(f"the arguments do not fit task {kind}{signature}: {exc}") from None

    def _check_size(self, payload: Mapping[str, Any] | None) -> None:
        """A payload is for arguments; data belongs in inputs (R-A8). A large one would
        slow every read of its row, the claim's among them."""
        limit = self.config.jobs.max_payload_bytes
        try:
            size = len(json.dumps(payload or {}, separators=(",", ":")).encode())
        except (TypeError, ValueError):
            return  # not JSON: Job.new names what is wrong
        if size > limit:
            raise InvalidInput(
                f"the payload is {size} bytes as JSON; the limit is {limit} (max_payload_bytes): "
                "pass large data as an input file (qrun submit --input NAME=PATH) or by reference"
            )

    def _check_pools(self, jobs: Iterable[Job]) -> None:
        """A job needing a pool nobody declared would wait forever: refuse it now."""
        wanted = {j.pool for j in jobs if j.pool is not None}
        if not wanted:
            return
        missing = sorted(wanted - set(self.store.pools()))
        if missing:
            raise InvalidInput(
                f"pool {missing[0]!r} is not declared; add [pools.{missing[0]}] with a size to the "
                "config (or call store.set_pool) before submitting jobs that need it"
            )

    def schedule(
        self,
        name: str,
        cron: str,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        seconds: str | None = None,
        **options: Any,
    ) -> None:
        """Declare a periodic job in code (R-F6), as `[schedules.NAME]` does in the config:
        each slot of `cron` (five fields: minute hour day month weekday, UTC; `seconds`,
        a cron field of its own, for more than one slot a minute) fires once, however
        many daemons run. A six-field cron is refused: tools disagree on its order."""
        check_payload(kind, payload)
        template = Job.new(id=f"cron-{name}", kind=kind, now=self.clock.now(), payload=payload, **options)
        self.scheduler.add(Periodic(name, cron, template, seconds))

    def run_direct(
        self, kind: str, payload: Mapping[str, Any], *, timeout_s: float | None = None
    ) -> tuple[Exit, Handle]:
        """R-A1's direct mode: run at once through the runner's port, bypassing the queue
        (nothing is stored); for interactive and sandbox runs. Returns the exit and the
        handle (whose runner has the output)."""
        check_payload(kind, payload)
        runner = self.runners.get(kind)
        if runner is None:
            raise InvalidInput(
                f"no runner for kind {kind!r}; this app runs: {', '.join(sorted(self.runners))}"
            )
        job = Job.new(id=f"direct-{new_id()}", kind=kind, now=self.clock.now(), payload=payload)
        run = Run(f"{job.id}/1")
        handle = runner.spawn(job, run)
        try:
            done = runner.wait(handle, timeout_s)
        except BaseException:
            runner.kill(handle)
            raise
        if done is None:
            runner.kill(handle)
            killed = runner.wait(handle, 30)  # collects what it left (the output is archived)
            done = Exit(
                code=124, error=f"timed out after {timeout_s}s", result=killed.result if killed else None
            )
        return done, handle

    def act(self, job_id: str, event: Cancel | Retry) -> Outcome:
        """Cancel or retry a job by hand (CLI, HTTP); a running job's kill goes to its runner."""
        return self.applier.event(job_id, event)

    def job(self, job_id: str) -> Job | None:
        return self.store.get(job_id)

    def runnable(self, kind: str) -> bool:
        """Whether this app, or a live daemon (by its reports), can run jobs of `kind`;
        True where a daemon does not say what it runs (one from before it said)."""
        if kind in self.runners:
            return True
        if not isinstance(self.store, DaemonRegistry):
            return False
        seen = self.store.daemons(self.config.live_since(self.clock.now()))
        return any(d.kinds is None or kind in d.kinds for d in seen)

    def waiting(self, job: Job) -> tuple[str, ...]:
        """Why `job` is not running now (`core.waiting`); see `waiting_page`."""
        return self.waiting_page([job])[job.id]

    def waiting_page(self, jobs: Sequence[Job]) -> dict[str, tuple[str, ...]]:
        """Why each of `jobs` (a page of a listing) is not running now, read with one
        query per distinct dependency, one for the running jobs (the key holders, only if
        a job has a key) and one each for the paused queues, the pools and the daemons'
        reports: for the whole page, never a scan of every job."""
        now = self.clock.now()
        queued = [j for j in jobs if j.status is Status.QUEUED]
        out = {j.id: why_waiting(j, Surroundings(now=now)) for j in jobs if j.status is not Status.QUEUED}
        if not queued:
            return out
        deps = {dep: None for j in queued for dep in j.depends_on}
        statuses = {dep: (found.status if (found := self.store.get(dep)) else None) for dep in deps}
        keys = {j.concurrency_key for j in queued if j.concurrency_key is not None}
        running = list(all_jobs(self.store, Status.RUNNING)) if keys else []
        paused, pools = self.store.paused(), self.store.pools()
        live = self.config.live_since(now)
        daemons = tuple(self.store.daemons(live)) if isinstance(self.store, DaemonRegistry) else None
        for job in queued:
            key = job.concurrency_key
            around = Surroundings(
                now=now,
                paused=paused,
                dependencies={dep: statuses[dep] for dep in job.depends_on},
                key_holders=tuple(j.id for j in running if key is not None and j.concurrency_key == key),
                pool=pools.get(job.pool) if job.pool is not None else None,
                daemons=daemons,
            )
            out[job.id] = why_waiting(job, around)
        return out

    def jobs(self, where: JobFilter) -> list[Job]:
        return self.store.list(where)

    def logs(self, job_id: str) -> tuple[bytes, bytes]:
        """What the job's latest run wrote on stdout and stderr, read where it ran (this
        host's run folders)."""
        job = self.store.get(job_id)
        if job is None:
            raise NotFound(f"no job {job_id}")
        if job.run is None:
            return b"", b""
        runner = self.runners.get(job.kind)
        if not isinstance(runner, RunLogs):
            raise Unsupported(
                f"{job.kind} jobs keep no logs; a python task's failure is in `qrun show {job_id}`"
            )
        return runner.logs(job.id, job.run)

    def wait_jobs(
        self,
        job_ids: Sequence[str],
        *,
        timeout_s: float | None = None,
        poll_s: float = 0.5,
        progress: Callable[[int], None] | None = None,
    ) -> list[Job]:
        """Block until every one of `job_ids` has ended, reading the store, so any process
        can wait on any job. Returns those that have ended (fewer after a timeout);
        `progress` gets how many have. Unknown ids raise, naming them."""
        missing = [i for i in job_ids if self.store.get(i) is None]
        if missing:
            raise NotFound(f"no such job(s): {', '.join(missing)}")
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            jobs = [self.store.get(i) for i in job_ids]
            ended = [j for j in jobs if j is not None and j.status.terminal]
            if progress is not None:
                progress(len(ended))
            if len(ended) == len(job_ids) or (deadline is not None and time.monotonic() >= deadline):
                return ended
            pause = poll_s if deadline is None else min(poll_s, max(0.0, deadline - time.monotonic()))
            time.sleep(pause)
