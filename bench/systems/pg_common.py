"""Fresh PostgreSQL databases for each system, on the server of this run
(QRUN_BENCH_SERVER, set by the harness), and the counters read around a drain."""

import os

import psycopg


def server() -> str:
    return os.environ.get("QRUN_BENCH_SERVER", "postgresql://postgres@127.0.0.1:5432")


def fresh_database(name: str) -> str:
    with psycopg.connect(f"{server()}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {name}")
    return f"{server()}/{name}"


def counters(database: str) -> tuple[int, int] | None:
    """(statements run in `database`, WAL syncs of the cluster) so far; None where the
    server has no pg_stat_statements (the harness's own cluster has it)."""
    with psycopg.connect(f"{server()}/postgres", autocommit=True) as conn:
        try:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            calls = conn.execute(
                "SELECT coalesce(sum(s.calls), 0) FROM pg_stat_statements s "
                "JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = %s",
                (database,),
            ).fetchone()[0]
        except psycopg.Error:
            return None
        syncs = conn.execute("SELECT wal_sync FROM pg_stat_wal").fetchone()[0]
    return int(calls), int(syncs)
