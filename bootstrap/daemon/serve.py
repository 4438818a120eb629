"""`serve`: the worker in this thread; the reaper and sanitizer, the scheduler, the
LISTEN connection and the HTTP API beside it; recovery at start-up; a drain at the end."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import attrs

from qrun.adapters.locks import file_lock
from qrun.adapters.runners.procs import pid_runs
from qrun.core import Status
from qrun.core.daemons import DaemonSeen, proven_dead
from qrun.core.ports import (
    DaemonRegistry,
    JobStore,
    Listens,
    NameHold,
    NameLocks,
    NameTaken,
)

from ..config import Config
from ..runtime.failures import log_failure
from ..runtime.names import NameKeeper, Standing
from ..runtime.paging import all_jobs
from ..runtime.periodic import Pruner, Scheduler
from ..runtime.reaper import Reaper, Sanitizer
from ..runtime.worker import Worker
from ..runtime.workflows import Triggers, Workflows
from .http_server import HttpServer
from .startup import MAX_PAUSE_S, StartupAborted, until_up

log = logging.getLogger("qrun")
MAX_BACKOFF_S = MAX_PAUSE_S  # a failing pass backs off as start-up does


@attrs.define
class Daemon:
    config: Config
    store: JobStore
    worker: Worker
    reaper: Reaper
    sanitizer: Sanitizer
    scheduler: Scheduler
    pruner: Pruner
    workflows: Workflows
    #: Read when the loops start: workflow triggers are wired after the daemon is built.
    triggers: Callable[[], Triggers | None]
    #: The ASGI app of the HTTP API, built when the daemon starts.
    api: Callable[[], Any]
    #: Start-up work that writes (pool declarations), done before anything is claimed.
    prepare: Callable[[], None] = lambda: None

    def serve(
        self, stop: threading.Event | None = None, *, handle_signals: bool = True, burst: bool = False
    ) -> None:
        """Worker, reaper and sanitizer until `stop` (or SIGTERM/SIGINT); then drain.
        `burst`: return once the queue has nothing to start and nothing runs."""
        stop = stop or threading.Event()
        if handle_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: stop.set())
        wait_s = self.config.database.startup_wait_s
        keeper = NameKeeper(
            self.worker.name,
            self.hold_name,
            check_s=self.worker.heartbeat_s,
            monotonic=time.monotonic,
            holder=self._holder,
        )
        with keeper:
            try:
                # R-H2: each step waits out a database outage; a held name ends start-up.
                until_up(keeper.take, "taking the name", wait_s=wait_s, stop=stop)
                http = self._bind_http()  # a port in use stops the daemon here, before any work
                until_up(self.prepare, "declaring the pools", wait_s=wait_s, stop=stop)
                until_up(self._recover, "recovering", wait_s=wait_s, stop=stop)
            except StartupAborted:
                log.info("stopped before serving")
                return
            self.worker.acting = keeper.acting
            self._serve(stop, burst, http, keeper)
        if keeper.taken_by is not None:
            raise NameTaken(
                f"another daemon took the name {self.worker.name!r} while this one had lost its "
                f"database connection: {keeper.taken_by}; this one stopped"
            )

    def _serve(self, stop: threading.Event, burst: bool, http: HttpServer | None, name: NameKeeper) -> None:
        keeper = threading.Thread(target=self._keep, args=(stop, name), name="qrun-reaper", daemon=True)
        keeper.start()
        threading.Thread(target=self._keep_name, args=(stop, name), name="qrun-name", daemon=True).start()
        if self.config.scheduler.enabled and (self.scheduler.schedules or self.workflows.workflows):
            threading.Thread(target=self._fire, args=(stop,), name="qrun-scheduler", daemon=True).start()
        if http is not None:
            http.start()
            log.info("HTTP API on http://%s:%d", self.config.http.host, self.config.http.port)
        wake = self.worker.wake

        def wake_on_stop() -> None:
            stop.wait()
            wake.set()

        threading.Thread(target=wake_on_stop, daemon=True).start()
        if isinstance(self.store, Listens):
            listens = self.store
            threading.Thread(
                target=self._listen, args=(listens, stop, wake), name="qrun-listen", daemon=True
            ).start()
        failures = 0
        while not stop.is_set():
            try:
                # Passes run as soon as there is work: a run ended, a job was submitted
                # (NOTIFY, where the store has it), a heartbeat is due; `poll_s` covers a
                # lost notification (poolers drop LISTEN), R-G6.
                self.worker.run(stop, burst=burst)
                failures = 0
                if burst and not self._due_soon(stop):
                    stop.set()  # the reaper and the listener end with the worker
                    break
            except Exception as exc:  # a failing pass (database down) must not end the daemon
                # Backing off: a database that is down is not hammered by every daemon.
                pause = min(self.config.daemon.poll_s * 2**failures, MAX_BACKOFF_S)
                failures += 1
                log_failure(log, "worker pass failed (retrying in %.1fs)", exc, pause)
                stop.wait(pause)
        self.worker.drain(self.config.daemon.drain_timeout_s)
        keeper.join(timeout=5)
        if isinstance(self.store, DaemonRegistry):
            try:
                self.store.forget(self.worker.id)
            except Exception:
                log.warning("could not remove this daemon's report; it ages out of the list")
        if http is not None:
            http.stop()

    def _due_soon(self, stop: threading.Event) -> bool:
        """`--burst` found nothing to start: wait for the next queued job due within
        `burst_wait_s` (True: go on), else say what is left (False: end)."""
        now = self.worker.clock.now()
        queued = list(all_jobs(self.store, Status.QUEUED))
        later = sorted(j.available_at for j in queued if j.available_at > now)
        bound = self.config.daemon.burst_wait_s
        if later and (later[0] - now).total_seconds() <= bound:
            wait = (later[0] - now).total_seconds()
            log.info("burst: a queued job is due in %.1fs; waiting for it", wait)
            stop.wait(wait)
            return not stop.is_set()
        if queued:
            log.warning(
                "burst done, leaving %d queued job(s): %d due later than burst_wait_s (%gs)%s; "
                "%d waiting on a dependency, a paused queue, a key or a pool",
                len(queued),
                len(later),
                bound,
                f", the first at {later[0].isoformat(timespec='seconds')}" if later else "",
                len(queued) - len(later),
            )
        return False

    def _bind_http(self) -> HttpServer | None:
        if not self.config.http.port:
            return None
        return HttpServer(self.api(), self.config.http.host, self.config.http.port)

    def _listen(self, store: Listens, stop: threading.Event, wake: threading.Event) -> None:
        while not stop.is_set():
            try:
                with store.listen() as listener:
                    while not stop.is_set():
                        if listener.wait(1.0):
                            wake.set()
            except Exception:
                log.warning(
                    "LISTEN connection lost; polling every %ss until it is back", self.config.daemon.poll_s
                )
                stop.wait(5.0)

    def _keep(self, stop: threading.Event, name: NameKeeper) -> None:
        # Start-up: every status (R-C4), beside the worker rather than before it: a claim
        # never hands out an unclean job (it heals it, `core.claim.decide_picks`), so
        # nothing waits on this.
        started = self.worker.clock.now()
        self._report(started)
        swept = self._sweep_all()
        next_prune = 0.0
        while not stop.wait(self.config.recovery.reaper_interval_s):
            self._report(started)
            if not name.acting():
                continue  # R-G1: without its name a daemon recovers nothing
            swept = swept or self._sweep_all()
            self.reaper.tick()
            try:
                self.sanitizer.tick()
            except Exception as exc:
                log_failure(log, "sanitizer tick failed", exc)
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + self.config.retention.prune_interval_s
                try:
                    if pruned := self.pruner.tick():
                        log.info("pruned %d finished job(s) past retention", pruned)
                except Exception as exc:
                    log_failure(log, "prune failed", exc)

    def _sweep_all(self) -> bool:
        """The sanitizer's pass over every status; False (retried next tick) if it failed."""
        try:
            self.sanitizer.tick(statuses=tuple(Status))
        except Exception as exc:
            log_failure(log, "start-up sanitizer pass failed (retried at the next tick)", exc)
            return False
        return True

    def _keep_name(self, stop: threading.Event, name: NameKeeper) -> None:
        """Every heartbeat: is the name still ours (R-G1)? Taken again after a loss, the
        jobs of earlier holders proven dead are recovered; taken by another, we stop."""
        while not stop.wait(name.check_s):
            standing = name.check()
            if standing is Standing.TAKEN:
                stop.set()
                return
            if standing is Standing.REGAINED:
                try:
                    self._recover()
                except Exception as exc:
                    log_failure(log, "recovering after taking the name again failed", exc)

    def _recover(self) -> None:
        """Holding the name: the running jobs of its earlier holders proven dead."""
        here, me = socket.gethostname(), os.getpid()
        recovered = self.worker.recover(
            self.worker.name, lambda holder: proven_dead(holder, host=here, pid=me, runs=pid_runs)
        )
        if recovered:
            log.warning(
                "recovered %d running job(s) of earlier daemons named %s", recovered, self.worker.name
            )

    def _holder(self) -> str | None:
        """Who holds our name, from the daemons' own reports (R-F4), if they say."""
        if not isinstance(self.store, DaemonRegistry):
            return None
        now = self.worker.clock.now()
        try:
            seen = self.store.daemons(self.config.live_since(now))
        except Exception:
            return None
        others = [d for d in seen if d.name == self.worker.name and d.id != self.worker.id]
        if not others:
            return None
        d = max(others, key=lambda d: d.seen_at)
        return f"{d.id} (pid {d.pid} on {d.host}, last seen {d.seen_at.isoformat(timespec='seconds')})"

    def _report(self, started: datetime) -> None:
        """What this daemon runs, for operators (R-F4): renewed every reaper tick."""
        if not isinstance(self.store, DaemonRegistry):
            return
        worker = self.worker
        try:
            self.store.report(
                DaemonSeen(
                    id=worker.id,
                    name=worker.name,
                    host=socket.gethostname(),
                    pid=os.getpid(),
                    slots=worker.slots,
                    running=len(worker.inflight),
                    queues=worker.queues,
                    kinds=tuple(worker.runners),
                    started_at=started,
                    seen_at=worker.clock.now(),
                )
            )
        except Exception as exc:
            log_failure(log, "could not report this daemon's slots (retried at the next tick)", exc)

    def _fire(self, stop: threading.Event) -> None:
        # Once a second: a slot fires within a second of its time, and a tick that finds
        # nothing due costs only the cron arithmetic.
        while not stop.wait(1.0):
            self.scheduler.tick()
            triggers = self.triggers()
            if triggers is not None and self.workflows.workflows:
                try:
                    triggers.tick()
                except Exception as exc:
                    log_failure(log, "workflow triggers failed", exc)

    def hold_name(self) -> AbstractContextManager[NameHold]:
        """This daemon's name, held for its life (R-G1): through the store where it can
        (every host on the database), else a lock file in `state_dir` (this host)."""
        name = self.worker.name
        if isinstance(self.store, NameLocks):
            return self.store.lock_name(name)
        state = Path(self.config.daemon.state_dir)
        state.mkdir(parents=True, exist_ok=True, mode=0o700)
        return file_lock(
            state / f"{quote(name, safe='')}.lock",
            lambda pid: f"a daemon named {name!r} is running here (pid {pid}); give this one another name",
            siblings="*.lock",
        )
