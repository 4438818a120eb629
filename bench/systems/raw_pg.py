"""The baseline: the minimal claim-then-complete loop in plain psycopg, one job per
transaction (autocommit single statements), on a minimal table."""

import psycopg

from .pg_common import fresh_database

NAME = "raw SQL (psycopg)"


class System:
    def __init__(self, server_db: str = "bench_raw") -> None:
        self.db = server_db

    def setup(self) -> None:
        self.url = fresh_database(self.db)
        with psycopg.connect(self.url, autocommit=True) as c:
            c.execute(
                "CREATE TABLE jobs (id bigserial PRIMARY KEY, status text NOT NULL DEFAULT 'queued', "
                "payload jsonb NOT NULL DEFAULT '{}', locked_by text)"
            )
            c.execute("CREATE INDEX jobs_queued ON jobs (id) WHERE status = 'queued'")

    def submit_one(self, n: int) -> None:
        with psycopg.connect(self.url, autocommit=True) as c:
            for _ in range(n):
                c.execute("INSERT INTO jobs (payload) VALUES ('{}')")

    def submit_batch(self, n: int, size: int) -> None:
        with psycopg.connect(self.url) as c:
            for start in range(0, n, size):
                with c.cursor().copy("COPY jobs (payload) FROM STDIN") as copy:
                    for _ in range(min(size, n - start)):
                        copy.write_row(("{}",))
                c.commit()

    def worker(self, name: str, ready, go) -> int:
        done = 0
        with psycopg.connect(self.url, autocommit=True) as c:
            ready()
            go()
            while True:
                row = c.execute(
                    "UPDATE jobs SET status = 'running', locked_by = %s WHERE id = ("
                    "SELECT id FROM jobs WHERE status = 'queued' ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED"
                    ") RETURNING id",
                    (name,),
                ).fetchone()
                if row is None:
                    return done
                c.execute("UPDATE jobs SET status = 'done', locked_by = NULL WHERE id = %s", (row[0],))
                done += 1

    def remaining(self) -> int:
        with psycopg.connect(self.url) as c:
            return c.execute("SELECT count(*) FROM jobs WHERE status <> 'done'").fetchone()[0]
