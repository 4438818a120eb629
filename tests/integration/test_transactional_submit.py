"""The async API and R-F5 from an application: `app.submit(..., connection=conn)` and
`await app.submit_async(..., connection=aconn)` join the caller's own PostgreSQL
transaction; the job runs only once the caller commits. Other stores say they cannot."""

import asyncio
import contextlib

import psycopg
import pytest

from qrun.bootstrap.config import load
from qrun.bootstrap.wiring import bootstrap, migrate
from qrun.core.ports import JobFilter


def _app(tmp_path, **settings):
    config = load(env={}, runs_dir=str(tmp_path / "runs"), http_port=0, **settings)
    migrate(config)
    app = bootstrap(config)

    @app.task(max_attempts=1)
    def greet(name: str) -> str:
        return f"hello {name}"

    return app


@pytest.mark.postgres
def test_an_app_submits_in_the_callers_sync_and_async_transactions(tmp_path, postgres_url, pg_schemas):
    app = _app(tmp_path, database_url=postgres_url, schema=pg_schemas())
    with psycopg.connect(postgres_url) as conn:
        with contextlib.suppress(RuntimeError), conn.transaction():
            dropped = app.submit("greet", {"name": "never"}, connection=conn)
            raise RuntimeError("the caller's own work failed")
        with conn.transaction():
            kept = app.submit("greet", {"name": "sync"}, connection=conn)
            assert app.job(kept) is None  # not before the caller commits
        with pytest.raises(ValueError, match="arguments do not fit task greet"):
            app.submit("greet", {"nom": "typo"}, connection=conn)

    async def handler():
        async with await psycopg.AsyncConnection.connect(postgres_url) as aconn, aconn.transaction():
            return await app.submit_async("greet", {"name": "async"}, connection=aconn)

    from_async = asyncio.run(handler())
    assert app.job(dropped) is None
    app.serve(handle_signals=False, burst=True)
    assert app.result(kept, timeout_s=30) == "hello sync"
    assert app.result(from_async, timeout_s=30) == "hello async"
    app.store.close()


def test_a_store_that_cannot_join_a_transaction_says_so(tmp_path):
    app = _app(tmp_path, database_url=str(tmp_path / "q.db"))
    with pytest.raises(ValueError, match=r"SqliteStore cannot join your transaction.*PostgreSQL"):
        app.submit("greet", {"name": "x"}, connection=object())
    with pytest.raises(ValueError, match="inputs are files"):
        app.submit("greet", {"name": "x"}, inputs={"a": b"1"}, connection=object())
    with pytest.raises(ValueError, match="inputs are files"):
        asyncio.run(app.submit_async("greet", {"name": "x"}, inputs={"a": b"1"}, connection=object()))
    assert app.store.counts() == {}
    app.store.close()


@pytest.mark.postgres
def test_async_code_submits_and_reads_on_async_connections_without_a_thread(
    tmp_path, postgres_url, pg_schemas, monkeypatch
):
    """On PostgreSQL the async API runs on psycopg's async connections: no call of it
    hands the work to a thread, so an event loop never waits on the database."""
    app = _app(tmp_path, database_url=postgres_url, schema=pg_schemas())

    def no_thread(*args, **kwargs):
        raise AssertionError("the async API handed its work to a thread")

    async def submit():
        job_id = await app.submit_async("greet", {"name": "loop"})
        batch = await app.submit_batch_async(
            [{"kind": "greet", "payload": {"name": f"b{i}"}} for i in range(3)]
        )
        assert (await app.store.get_async(job_id)).kind == "greet"
        await app.store.aclose()
        return job_id, batch

    async def results(job_id):
        try:
            return await app.result_async(job_id, timeout_s=30)
        finally:
            await app.store.aclose()

    with monkeypatch.context() as patched:
        patched.setattr(asyncio, "to_thread", no_thread)
        job_id, batch = asyncio.run(submit())
    assert len(app.store.list(JobFilter(batch=batch))) == 3
    app.serve(handle_signals=False, burst=True)
    with monkeypatch.context() as patched:
        patched.setattr(asyncio, "to_thread", no_thread)
        assert asyncio.run(results(job_id)) == "hello loop"
    app.store.close()
