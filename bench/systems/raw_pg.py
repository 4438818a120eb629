"""The baselines: the minimal claim-then-complete loop in plain psycopg on a minimal
table, two autocommit statements per claim. `per_claim=1` claims one job a statement;
`per_claim=10` claims ten and completes them with one `id = ANY(...)`."""

import psycopg

from .pg_common import fresh_database


class System:
    def __init__(self, per_claim: int = 1) -> None:
        self.per_claim = per_claim
        self.db = f"bench_raw{per_claim}"
        self.name = f"raw SQL, {per_claim} per claim"

    def setup(self) -> None:
        self.url = fresh_database(self.db)
        with psycopg.connect(self.url, autocommit=True) as c:
            c.execute(
                "CREATE TABLE jobs (id bigserial PRIMARY KEY, status text NOT NULL DEFAULT 'queued', "
                "payload jsonb NOT NULL DEFAULT '{}', locked_by text)"
            )
            c.execute("CREATE INDEX jobs_queued ON jobs (id) WHERE status = 'queued'")

    def load(self, n: int) -> None:
        with psycopg.connect(self.url) as c, c.cursor().copy("COPY jobs (payload) FROM STDIN") as copy:
            for _ in range(n):
                copy.write_row(("{}",))

    def worker(self, index: int, ready, go) -> None:
        with psycopg.connect(self.url, autocommit=True) as c:
            ready()
            go()
            while True:
                rows = c.execute(
                    "UPDATE jobs SET status = 'running', locked_by = %s WHERE id IN ("
                    "SELECT id FROM jobs WHERE status = 'queued' ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED"
                    ") RETURNING id",
                    (f"w{index}", self.per_claim),
                ).fetchall()
                if not rows:
                    return
                c.execute(
                    "UPDATE jobs SET status = 'done', locked_by = NULL WHERE id = ANY(%s)",
                    ([r[0] for r in rows],),
                )

    def remaining(self) -> int:
        with psycopg.connect(self.url) as c:
            return c.execute("SELECT count(*) FROM jobs WHERE status <> 'done'").fetchone()[0]
