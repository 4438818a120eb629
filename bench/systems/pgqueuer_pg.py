"""pgqueuer, used as its docs say: asyncpg driver (its fastest), Queries.enqueue for one
or a list, and PgQueuer.from_asyncpg_connection with an entrypoint, run in drain mode. batch_size=1 so that,
like every other system here, a worker holds one job at a time."""

import asyncio

import asyncpg
from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode

from .pg_common import fresh_database

NAME = "pgqueuer (asyncpg)"


class System:
    def __init__(self, db: str = "bench_pgqueuer", batch_size: int = 1) -> None:
        self.db = db
        self.batch_size = batch_size

    def _run(self, coro):
        return asyncio.run(coro)

    def setup(self) -> None:
        self.url = fresh_database(self.db)

        async def install() -> None:
            conn = await asyncpg.connect(self.url)
            await Queries(AsyncpgDriver(conn)).install()
            await conn.close()

        self._run(install())

    def submit_one(self, n: int) -> None:
        async def go() -> None:
            conn = await asyncpg.connect(self.url)
            q = Queries(AsyncpgDriver(conn))
            for _ in range(n):
                await q.enqueue("noop", None)
            await conn.close()

        self._run(go())

    def submit_batch(self, n: int, size: int) -> None:
        async def go() -> None:
            conn = await asyncpg.connect(self.url)
            q = Queries(AsyncpgDriver(conn))
            for start in range(0, n, size):
                k = min(size, n - start)
                await q.enqueue(["noop"] * k, [None] * k, [0] * k)
            await conn.close()

        self._run(go())

    def worker(self, name: str, ready, go) -> int:
        async def work() -> int:
            conn = await asyncpg.connect(self.url)
            pgq = PgQueuer.from_asyncpg_connection(conn)
            done = 0

            @pgq.entrypoint("noop")
            async def noop(job) -> None:
                nonlocal done
                done += 1

            ready()
            await asyncio.get_running_loop().run_in_executor(None, go)
            await pgq.run(mode=QueueExecutionMode.drain, batch_size=self.batch_size)
            return done

        return self._run(work())

    def remaining(self) -> int:
        async def count() -> int:
            conn = await asyncpg.connect(self.url)
            n = await conn.fetchval("SELECT count(*) FROM pgqueuer")
            await conn.close()
            return int(n)

        return self._run(count())
