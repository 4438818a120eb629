"""pgqueuer as its docs say: installed with its own schema (durability "durable", the
default), the asyncpg driver with one connection per process, an entrypoint, and
`PgQueuer.run` at `batch_size` (10, its default, or 100, its documented tuning knob):
drain mode for throughput, continuous mode (LISTEN/NOTIFY) for latency."""

import asyncio
import json
import time

import asyncpg
from pgqueuer import PgQueuer
from pgqueuer.db import AsyncpgDriver
from pgqueuer.queries import Queries
from pgqueuer.types import QueueExecutionMode

from .pg_common import fresh_database


class System:
    def __init__(self, batch_size: int = 10) -> None:
        self.batch_size = batch_size
        self.db = f"bench_pgqueuer{batch_size}"
        self.name = f"pgqueuer, batch {batch_size}" + (" (default)" if batch_size == 10 else "")

    def setup(self) -> None:
        self.url = fresh_database(self.db)

        async def install() -> None:
            conn = await asyncpg.connect(self.url)
            await Queries(AsyncpgDriver(conn)).install()
            await conn.close()

        asyncio.run(install())

    def load(self, n: int) -> None:
        async def go() -> None:
            conn = await asyncpg.connect(self.url)
            q = Queries(AsyncpgDriver(conn))
            for start in range(0, n, 1000):
                k = min(1000, n - start)
                await q.enqueue(["noop"] * k, [None] * k, [0] * k)
            await conn.close()

        asyncio.run(go())

    def _pgq(self, conn, on_job) -> PgQueuer:
        pgq = PgQueuer.from_asyncpg_connection(conn)

        @pgq.entrypoint("noop")
        async def noop(job) -> None:
            on_job(job)

        return pgq

    def worker(self, index: int, ready, go) -> None:
        async def work() -> None:
            conn = await asyncpg.connect(self.url)
            pgq = self._pgq(conn, lambda job: None)
            ready()
            await asyncio.get_running_loop().run_in_executor(None, go)
            await pgq.run(mode=QueueExecutionMode.drain, batch_size=self.batch_size)

        asyncio.run(work())

    def serve_latency(self, path: str, ready) -> None:
        def seen(job) -> None:
            sent = json.loads(job.payload)["t"]
            with open(path, "a") as f:
                f.write(f"{time.time() - sent}\n")

        async def work() -> None:
            conn = await asyncpg.connect(self.url)
            pgq = self._pgq(conn, seen)
            ready()
            await pgq.run(batch_size=self.batch_size)

        asyncio.run(work())

    def submitter(self):
        loop = asyncio.new_event_loop()
        conn = loop.run_until_complete(asyncpg.connect(self.url))
        q = Queries(AsyncpgDriver(conn))

        def submit() -> None:
            loop.run_until_complete(q.enqueue("noop", json.dumps({"t": time.time()}).encode()))

        return submit

    def remaining(self) -> int:
        async def count() -> int:
            conn = await asyncpg.connect(self.url)
            n = await conn.fetchval("SELECT count(*) FROM pgqueuer")
            await conn.close()
            return int(n)

        return asyncio.run(count())
