"""SQLite schema, as numbered migrations. Times are integer microseconds since the epoch
(UTC), so they sort and compare as numbers."""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: jobs, their dependencies, and the schema version
    """
    CREATE TABLE {p}meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE {p}jobs (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        queue TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        priority INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        transient_attempts INTEGER NOT NULL,
        requested_at INTEGER NOT NULL,
        available_at INTEGER NOT NULL,
        started_at INTEGER,
        finished_at INTEGER,
        lease_worker TEXT,
        lease_until INTEGER,
        run_id TEXT,
        run_epoch INTEGER,
        handle_runner TEXT,
        handle_ref TEXT,
        exit_code INTEGER,
        exit_recorded_at INTEGER,
        concurrency_key TEXT,
        concurrency_limit INTEGER NOT NULL,
        depends_on TEXT NOT NULL,
        follow_up TEXT,
        orphan_policy TEXT NOT NULL,
        cancel_requested INTEGER NOT NULL,
        error TEXT,
        result TEXT,
        adoptions INTEGER NOT NULL,
        version INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE {p}job_deps (
        job_id TEXT NOT NULL,
        dep_id TEXT NOT NULL,
        PRIMARY KEY (job_id, dep_id)
    ) WITHOUT ROWID;
    -- claim: ready queued jobs in hand-out order (finished jobs stay out of these indexes)
    CREATE INDEX {p}jobs_queued ON {p}jobs (priority DESC, available_at, requested_at, id)
        WHERE status = 'queued';
    CREATE INDEX {p}jobs_running ON {p}jobs (lease_worker, lease_until)
        WHERE status = 'running';
    CREATE INDEX {p}jobs_running_key ON {p}jobs (concurrency_key)
        WHERE status = 'running' AND concurrency_key IS NOT NULL;
    CREATE INDEX {p}jobs_queue_status ON {p}jobs (queue, status);
    """,
    # 2: unique jobs (R-F1), retention (R-F3: finished jobs by age, dependents by
    # dependency) and paused queues
    """
    ALTER TABLE {p}jobs ADD COLUMN unique_slot TEXT;
    ALTER TABLE {p}jobs ADD COLUMN unique_key TEXT;
    ALTER TABLE {p}jobs ADD COLUMN unique_finished TEXT;
    CREATE UNIQUE INDEX {p}jobs_unique_slot ON {p}jobs (unique_slot) WHERE unique_slot IS NOT NULL;
    CREATE INDEX {p}jobs_finished ON {p}jobs (finished_at, id)
        WHERE status IN ('done', 'failed', 'cancelled');
    CREATE INDEX {p}job_deps_dep ON {p}job_deps (dep_id);
    CREATE TABLE {p}paused_queues (name TEXT PRIMARY KEY) WITHOUT ROWID;
    """,
    # 3: resource pools (R-E3: a slot is held by at most one running job, which the
    # unique index makes a fact of the file) and batches (R-E1)
    """
    ALTER TABLE {p}jobs ADD COLUMN pool TEXT;
    ALTER TABLE {p}jobs ADD COLUMN pool_slot INTEGER;
    ALTER TABLE {p}jobs ADD COLUMN batch TEXT;
    CREATE UNIQUE INDEX {p}jobs_pool_slot ON {p}jobs (pool, pool_slot) WHERE pool_slot IS NOT NULL;
    CREATE INDEX {p}jobs_batch ON {p}jobs (batch) WHERE batch IS NOT NULL;
    CREATE TABLE {p}pools (name TEXT PRIMARY KEY, size INTEGER NOT NULL) WITHOUT ROWID;
    """,
    # 4: topics and their events (R-D4)
    """
    CREATE TABLE {p}topic_events (
        id TEXT PRIMARY KEY,
        topic TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL,
        published_at INTEGER NOT NULL,
        reserved_by TEXT,
        reserved_until INTEGER,
        deliveries INTEGER NOT NULL,
        settled_at INTEGER,
        note TEXT
    ) WITHOUT ROWID;
    CREATE INDEX {p}topic_events_open ON {p}topic_events (topic, published_at, id)
        WHERE status IN ('pending', 'reserved');
    """,
    # 5: the handler runs of workflow sessions (R-D5, R-D7, R-D8)
    """
    CREATE TABLE {p}handler_runs (
        session_id TEXT NOT NULL,
        iteration INTEGER NOT NULL,
        handler TEXT NOT NULL,
        role TEXT NOT NULL,
        status TEXT NOT NULL,
        cost REAL,
        error TEXT,
        started_at INTEGER,
        finished_at INTEGER,
        PRIMARY KEY (session_id, iteration, handler)
    ) WITHOUT ROWID;
    -- a workflow whose last session failed is in error until it is triggered by hand (R-D2)
    CREATE TABLE {p}workflow_errors (
        name TEXT PRIMARY KEY, error TEXT NOT NULL, since INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    # 6: spawns that failed in a row (R-C5: backed off, then the job fails)
    """
    ALTER TABLE {p}jobs ADD COLUMN spawn_failures INTEGER NOT NULL DEFAULT 0;
    """,
    # 7: the time live workers saw a run running, which the ceiling counts (R-B3)
    """
    ALTER TABLE {p}jobs ADD COLUMN ran_s REAL NOT NULL DEFAULT 0;
    """,
    # 8: jobs in a rowid table, with the large columns last. In the WITHOUT ROWID table a
    # read of any column of a row whose payload overflowed its page walked the whole
    # overflow chain, so every claim that passed over a job of 1 MiB read the megabyte
    # (bench/bench_large_payloads.py: small jobs ran 34 times slower beside 200 of them).
    # And a job's own retry delays (a task's `backoff=`); NULL: the daemon's policy. And
    # what live daemons report of themselves (R-F4).
    """
    CREATE TABLE {p}jobs_new (
        id TEXT PRIMARY KEY, kind TEXT NOT NULL, queue TEXT NOT NULL, status TEXT NOT NULL,
        priority INTEGER NOT NULL, attempts INTEGER NOT NULL, max_attempts INTEGER NOT NULL,
        transient_attempts INTEGER NOT NULL, requested_at INTEGER NOT NULL,
        available_at INTEGER NOT NULL, started_at INTEGER, finished_at INTEGER, lease_worker TEXT,
        lease_until INTEGER, run_id TEXT, run_epoch INTEGER, handle_runner TEXT, handle_ref TEXT,
        exit_code INTEGER, exit_recorded_at INTEGER, concurrency_key TEXT,
        concurrency_limit INTEGER NOT NULL, orphan_policy TEXT NOT NULL,
        cancel_requested INTEGER NOT NULL, adoptions INTEGER NOT NULL, version INTEGER NOT NULL,
        unique_slot TEXT, unique_key TEXT, unique_finished TEXT, pool TEXT, pool_slot INTEGER,
        batch TEXT, spawn_failures INTEGER NOT NULL DEFAULT 0, ran_s REAL NOT NULL DEFAULT 0,
        backoff TEXT, depends_on TEXT NOT NULL, follow_up TEXT, error TEXT, result TEXT, payload TEXT NOT NULL
    );
    INSERT INTO {p}jobs_new (
        id, kind, queue, status, priority, attempts, max_attempts, transient_attempts,
        requested_at, available_at, started_at, finished_at, lease_worker, lease_until, run_id,
        run_epoch, handle_runner, handle_ref, exit_code, exit_recorded_at, concurrency_key,
        concurrency_limit, orphan_policy, cancel_requested, adoptions, version, unique_slot,
        unique_key, unique_finished, pool, pool_slot, batch, spawn_failures, ran_s, depends_on,
        follow_up, error, result, payload
    )
        SELECT
            id, kind, queue, status, priority, attempts, max_attempts, transient_attempts,
            requested_at, available_at, started_at, finished_at, lease_worker, lease_until, run_id,
            run_epoch, handle_runner, handle_ref, exit_code, exit_recorded_at, concurrency_key,
            concurrency_limit, orphan_policy, cancel_requested, adoptions, version, unique_slot,
            unique_key, unique_finished, pool, pool_slot, batch, spawn_failures, ran_s, depends_on,
            follow_up, error, result, payload
        FROM {p}jobs;
    DROP TABLE {p}jobs;
    ALTER TABLE {p}jobs_new RENAME TO {p}jobs;
    CREATE INDEX {p}jobs_queued ON {p}jobs (priority DESC, available_at, requested_at, id)
        WHERE status = 'queued';
    CREATE INDEX {p}jobs_running ON {p}jobs (lease_worker, lease_until)
        WHERE status = 'running';
    CREATE INDEX {p}jobs_running_key ON {p}jobs (concurrency_key)
        WHERE status = 'running' AND concurrency_key IS NOT NULL;
    CREATE INDEX {p}jobs_queue_status ON {p}jobs (queue, status);
    CREATE UNIQUE INDEX {p}jobs_unique_slot ON {p}jobs (unique_slot) WHERE unique_slot IS NOT NULL;
    CREATE INDEX {p}jobs_finished ON {p}jobs (finished_at, id)
        WHERE status IN ('done', 'failed', 'cancelled');
    CREATE UNIQUE INDEX {p}jobs_pool_slot ON {p}jobs (pool, pool_slot) WHERE pool_slot IS NOT NULL;
    CREATE INDEX {p}jobs_batch ON {p}jobs (batch) WHERE batch IS NOT NULL;
    CREATE TABLE {p}daemons (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, host TEXT NOT NULL, pid INTEGER NOT NULL,
        slots INTEGER NOT NULL, running INTEGER NOT NULL, queues TEXT,
        started_at INTEGER NOT NULL, seen_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    """,
    # 9: each job's timeline (R-F4, core.timeline), a JSON array of steps written with
    # every transition; the jobs of older versions start theirs empty.
    """
    ALTER TABLE {p}jobs ADD COLUMN history TEXT NOT NULL DEFAULT '[]';
    """,
    # 10: listings by submit time, the newest first (with or without a status), on an
    # index: ids of schedules and callers' own choosing say nothing of time.
    """
    CREATE INDEX {p}jobs_submitted ON {p}jobs (requested_at, id);
    CREATE INDEX {p}jobs_status_submitted ON {p}jobs (status, requested_at, id);
    """,
    # 11: the kinds each live daemon can run, so a job no daemon can run says so.
    """
    ALTER TABLE {p}daemons ADD COLUMN kinds TEXT;
    """,
    # 12: what a job does when a dependency ends failed or cancelled (core.dependents),
    # and the dependency whose end cancelled it, so a retry of that one revives it. Jobs
    # stored before keep waiting, as they were submitted to; every write names the column.
    """
    ALTER TABLE {p}jobs ADD COLUMN on_dependency_failure TEXT NOT NULL DEFAULT 'wait';
    ALTER TABLE {p}jobs ADD COLUMN cancelled_for TEXT;
    """,
)
VERSION = len(MIGRATIONS)
