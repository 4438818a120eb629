"""PostgreSQL schema, as numbered migrations, inside one schema (namespace) per app.

Ids use the "C" collation so that ordering and paging by id agree with Python's string
order (and with every other store). The claim indexes are partial: finished jobs are in
none of them, so claim cost stays flat however many finished jobs pile up.
"""

from __future__ import annotations

MIGRATIONS: tuple[str, ...] = (
    # 1: jobs, their dependencies, and the schema version
    """
    CREATE TABLE {s}.meta (key text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE {s}.jobs (
        id text COLLATE "C" PRIMARY KEY,
        kind text NOT NULL,
        queue text NOT NULL,
        payload jsonb NOT NULL,
        status text NOT NULL,
        priority integer NOT NULL,
        attempts integer NOT NULL,
        max_attempts integer NOT NULL,
        transient_attempts integer NOT NULL,
        requested_at timestamptz NOT NULL,
        available_at timestamptz NOT NULL,
        started_at timestamptz,
        finished_at timestamptz,
        lease_worker text,
        lease_until timestamptz,
        run_id text,
        run_epoch integer,
        handle_runner text,
        handle_ref text,
        exit_code integer,
        exit_recorded_at timestamptz,
        concurrency_key text,
        concurrency_limit integer NOT NULL,
        depends_on jsonb NOT NULL,
        follow_up jsonb,
        orphan_policy text NOT NULL,
        cancel_requested boolean NOT NULL,
        error text,
        result jsonb,
        adoptions integer NOT NULL,
        version integer NOT NULL
    );
    CREATE TABLE {s}.job_deps (
        job_id text COLLATE "C" NOT NULL,
        dep_id text COLLATE "C" NOT NULL,
        PRIMARY KEY (job_id, dep_id)
    );
    CREATE INDEX jobs_queued ON {s}.jobs (priority DESC, available_at, requested_at, id)
        WHERE status = 'queued';
    CREATE INDEX jobs_adoptable ON {s}.jobs (priority DESC, started_at, id)
        WHERE status = 'running' AND lease_worker IS NULL;
    CREATE INDEX jobs_leases ON {s}.jobs (lease_until)
        WHERE status = 'running' AND lease_worker IS NOT NULL;
    CREATE INDEX jobs_running_key ON {s}.jobs (concurrency_key)
        WHERE status = 'running' AND concurrency_key IS NOT NULL;
    CREATE INDEX jobs_queue_status ON {s}.jobs (queue, status);
    """,
    # 2: unique jobs (R-F1), retention (R-F3: finished jobs by age, dependents by
    # dependency) and paused queues
    """
    ALTER TABLE {s}.jobs ADD COLUMN unique_slot text COLLATE "C";
    ALTER TABLE {s}.jobs ADD COLUMN unique_key text;
    ALTER TABLE {s}.jobs ADD COLUMN unique_finished text;
    CREATE UNIQUE INDEX jobs_unique_slot ON {s}.jobs (unique_slot) WHERE unique_slot IS NOT NULL;
    CREATE INDEX jobs_finished ON {s}.jobs (finished_at, id)
        WHERE status IN ('done', 'failed', 'cancelled');
    CREATE INDEX job_deps_dep ON {s}.job_deps (dep_id);
    CREATE TABLE {s}.paused_queues (name text PRIMARY KEY);
    """,
    # 3: resource pools (R-E3: a slot is held by at most one running job, which the
    # unique index makes a fact of the database) and batches (R-E1)
    """
    ALTER TABLE {s}.jobs ADD COLUMN pool text;
    ALTER TABLE {s}.jobs ADD COLUMN pool_slot integer;
    ALTER TABLE {s}.jobs ADD COLUMN batch text;
    CREATE UNIQUE INDEX jobs_pool_slot ON {s}.jobs (pool, pool_slot) WHERE pool_slot IS NOT NULL;
    CREATE INDEX jobs_batch ON {s}.jobs (batch) WHERE batch IS NOT NULL;
    CREATE TABLE {s}.pools (name text PRIMARY KEY, size integer NOT NULL);
    """,
    # 4: topics and their events (R-D4)
    """
    CREATE TABLE {s}.topic_events (
        id text PRIMARY KEY,
        topic text NOT NULL,
        payload jsonb NOT NULL,
        status text NOT NULL,
        published_at timestamptz NOT NULL,
        reserved_by text,
        reserved_until timestamptz,
        deliveries integer NOT NULL,
        settled_at timestamptz,
        note text
    );
    CREATE INDEX topic_events_open ON {s}.topic_events (topic, published_at, id)
        WHERE status IN ('pending', 'reserved');
    """,
    # 5: the handler runs of workflow sessions (R-D5, R-D7, R-D8)
    """
    CREATE TABLE {s}.handler_runs (
        session_id text NOT NULL,
        iteration integer NOT NULL,
        handler text NOT NULL,
        role text NOT NULL,
        status text NOT NULL,
        cost double precision,
        error text,
        started_at timestamptz,
        finished_at timestamptz,
        PRIMARY KEY (session_id, iteration, handler)
    );
    -- a workflow whose last session failed is in error until it is triggered by hand (R-D2)
    CREATE TABLE {s}.workflow_errors (name text PRIMARY KEY, error text NOT NULL, since timestamptz NOT NULL);
    """,
    # 6: spawns that failed in a row (R-C5: backed off, then the job fails)
    """
    ALTER TABLE {s}.jobs ADD COLUMN spawn_failures integer NOT NULL DEFAULT 0;
    """,
    # 7: the time live workers saw a run running, which the ceiling counts (R-B3)
    """
    ALTER TABLE {s}.jobs ADD COLUMN ran_s double precision NOT NULL DEFAULT 0;
    """,
    # 8: a job's own retry delays (a task's `backoff=`); NULL: the daemon's policy. And
    # what live daemons report of themselves (R-F4).
    """
    ALTER TABLE {s}.jobs ADD COLUMN backoff jsonb;
    CREATE TABLE {s}.daemons (
        id text PRIMARY KEY, name text NOT NULL, host text NOT NULL, pid integer NOT NULL,
        slots integer NOT NULL, running integer NOT NULL, queues text,
        started_at timestamptz NOT NULL, seen_at timestamptz NOT NULL
    );
    """,
    # 9: each job's timeline (R-F4, core.timeline), a JSON array of steps written with
    # every transition; the jobs of older versions start theirs empty.
    """
    ALTER TABLE {s}.jobs ADD COLUMN history jsonb NOT NULL DEFAULT '[]';
    """,
    # 10: listings by submit time, the newest first (with or without a status), on an
    # index: ids of schedules and callers' own choosing say nothing of time.
    """
    CREATE INDEX jobs_submitted ON {s}.jobs (requested_at, id);
    CREATE INDEX jobs_status_submitted ON {s}.jobs (status, requested_at, id);
    """,
    # 11: the kinds each live daemon can run, so a job no daemon can run says so.
    """
    ALTER TABLE {s}.daemons ADD COLUMN kinds text;
    """,
    # 12: what a job does when a dependency ends failed or cancelled (core.dependents),
    # and the dependency whose end cancelled it, so a retry of that one revives it. Jobs
    # stored before keep waiting, as they were submitted to; every write names the column.
    """
    ALTER TABLE {s}.jobs ADD COLUMN on_dependency_failure text NOT NULL DEFAULT 'wait';
    ALTER TABLE {s}.jobs ADD COLUMN cancelled_for text;
    """,
)
VERSION = len(MIGRATIONS)
