"""PostgreSQL-only behaviour: transactional submit, LISTEN/NOTIFY, schema versions,
schemas shared by apps, and real processes claiming from one database."""

import asyncio
import contextlib
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import attrs
import psycopg
import pytest
from processes import run_workers

from qrun.adapters.postgres import VERSION, PostgresStore
from qrun.contract.builders import new_job
from qrun.core import ClaimRequest, Job, Status
from qrun.core.ports import DuplicateJob, SchemaVersionError

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(postgres_url, pg_schemas):
    schema = pg_schemas()
    PostgresStore.migrate(postgres_url, schema=schema)
    s = PostgresStore(postgres_url, schema=schema)
    yield s
    s.close()


def test_r_f5_submit_in_the_callers_transaction_exists_only_if_it_commits(store, postgres_url):
    """R-F5: a job submitted on the caller's connection commits or rolls back with it."""
    kept, dropped = new_job(), new_job()
    with psycopg.connect(postgres_url) as conn:
        with conn.transaction():
            store.submit([kept], connection=conn)
            assert store.get(kept.id) is None  # not visible before the caller commits
        assert store.get(kept.id) == kept
        with contextlib.suppress(RuntimeError), conn.transaction():
            store.submit([dropped], connection=conn)
            raise RuntimeError("the caller's own work failed after submitting")
    assert store.get(dropped.id) is None


def test_r_f5_submit_in_an_async_callers_transaction_exists_only_if_it_commits(store, postgres_url):
    """R-F5 for asyncio: the same on psycopg's AsyncConnection, unique keys and a batch
    big enough for COPY included."""
    import asyncio

    from qrun.core import Unique

    kept, keyed, dropped = new_job(), new_job(unique=Unique("k")), new_job()
    big = [new_job() for _ in range(100)]

    async def main():
        async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
            async with conn.transaction():
                assert await store.submit_async([kept, keyed, *big], connection=conn) == [
                    kept.id,
                    keyed.id,
                    *(j.id for j in big),
                ]
                assert store.get(kept.id) is None
                again = new_job(unique=Unique("k"))
                assert await store.submit_async([again], connection=conn) == [keyed.id]
            with contextlib.suppress(RuntimeError):
                async with conn.transaction():
                    await store.submit_async([dropped], connection=conn)
                    raise RuntimeError("the caller's own work failed")

    asyncio.run(main())
    assert store.get(kept.id) == kept and store.get(keyed.id) == keyed
    assert all(store.get(j.id) == j for j in big)
    assert store.get(dropped.id) is None


def test_r_f5_a_refused_submit_leaves_the_callers_transaction_usable(store, postgres_url):
    """A duplicate id or an unknown dependency is refused and undone alone (a savepoint):
    the caller's own writes in the same transaction still commit, and no part of the
    refused batch does."""
    from qrun.core.ports import UnknownDependency

    held = new_job()
    store.submit([held])
    orphan, twin = new_job(depends_on=("nobody",)), new_job(id=held.id)
    fine = new_job()
    with psycopg.connect(postgres_url) as conn:
        with conn.transaction():
            conn.execute("CREATE TEMP TABLE mine (x int)")
            with pytest.raises(UnknownDependency, match="nobody"):
                store.submit([new_job(), orphan], connection=conn)
            with pytest.raises(DuplicateJob, match=held.id):
                store.submit([twin], connection=conn)
            conn.execute("INSERT INTO mine VALUES (1)")  # the transaction still works
            store.submit([fine], connection=conn)
        assert conn.execute("SELECT count(*) FROM mine").fetchone()[0] == 1
    assert store.get(fine.id) == fine and store.get(orphan.id) is None
    assert store.counts()[("default", Status.QUEUED)] == 2


def test_r_f2_an_idle_listener_wakes_on_submit(store):
    """R-F2: a worker waiting on LISTEN wakes when a job is submitted, not at its next poll."""
    with store.listen() as listener:
        assert listener.wait(0.05) is False
        threading.Timer(0.2, lambda: store.submit([new_job()])).start()
        start = time.monotonic()
        assert listener.wait(10.0) is True
        assert time.monotonic() - start < 5.0


def test_a_follow_up_also_wakes_listeners(store):
    from qrun.contract.base import claim_one, step
    from qrun.core import Finished, FollowUp

    store.submit([new_job(follow_up=FollowUp("next"))])
    job = claim_one(store).job
    with store.listen() as listener:
        step(store, job, Finished(None))
        assert listener.wait(5.0) is True


def test_concurrent_submitters_of_one_id_get_one_job_and_a_clear_error(store):
    job = new_job()
    errors, barrier = [], threading.Barrier(6)

    def submit():
        barrier.wait()
        try:
            store.submit([job])
        except DuplicateJob as exc:
            errors.append(str(exc))

    threads = [threading.Thread(target=submit) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 5 and all(job.id in e for e in errors)
    assert store.get(job.id) == job


def test_a_missing_schema_is_refused_with_how_to_create_it(postgres_url, pg_schemas):
    with pytest.raises(SchemaVersionError, match=r"no qrun schema .* PostgresStore\.migrate"):
        PostgresStore(postgres_url, schema=pg_schemas())


def test_a_store_made_closed_connects_on_first_use_and_again_after_a_failure(postgres_url, pg_schemas):
    """`open=False`: nothing connects when it is made (a server that is down is no
    error yet); the first use opens the pool and checks the schema, and a use after the
    schema was made meanwhile works."""
    from qrun.core.ports import StoreUnreachable

    down = PostgresStore("postgresql://127.0.0.1:1/nothing", open=False, connect_timeout_s=1)
    with pytest.raises(StoreUnreachable):
        down.get("x")
    down.close()
    schema = pg_schemas()
    store = PostgresStore(postgres_url, schema=schema, open=False)
    with pytest.raises(SchemaVersionError, match="no qrun schema"):
        store.get("x")

    async def read_async():
        try:
            return await store.get_async("x")
        finally:
            await store.aclose()

    with pytest.raises(SchemaVersionError, match="no qrun schema"):  # async code is refused alike
        asyncio.run(read_async())
    PostgresStore.migrate(postgres_url, schema=schema)
    job = new_job()
    store.submit([job])
    assert store.get(job.id) == job
    store.close()
    assert store.get(job.id) == job  # a use after close opens it again
    store.close()


def test_a_newer_schema_is_refused_naming_both_versions(postgres_url, pg_schemas):
    schema = pg_schemas()
    PostgresStore.migrate(postgres_url, schema=schema)
    with psycopg.connect(postgres_url) as conn:
        conn.execute(f"UPDATE {schema}.meta SET value = %s", (str(VERSION + 1),))
    with pytest.raises(SchemaVersionError, match=f"version {VERSION + 1}, newer than version {VERSION}"):
        PostgresStore(postgres_url, schema=schema)
    # migrate refuses it too, and leaves the newer version recorded (never a downgrade)
    with pytest.raises(SchemaVersionError, match=f"version {VERSION + 1}, newer than version {VERSION}"):
        PostgresStore.migrate(postgres_url, schema=schema)
    with psycopg.connect(postgres_url) as conn:
        stored = conn.execute(f"SELECT value FROM {schema}.meta WHERE key = 'schema_version'").fetchone()
    assert stored == (str(VERSION + 1),)


def test_an_unreachable_database_names_the_servers_reason(postgres_url):
    from qrun.core.ports import StoreUnreachable

    missing = postgres_url.rsplit("/", 1)[0] + "/qrun_no_such_database"
    with pytest.raises(StoreUnreachable, match=r'database "qrun_no_such_database" does not exist'):
        PostgresStore(missing, connect_timeout_s=5)
    closed = "postgresql://postgres:s3cret@127.0.0.1:1/x"  # nothing listens on port 1
    with pytest.raises(StoreUnreachable) as refused:
        PostgresStore.migrate(closed, connect_timeout_s=5)
    message = str(refused.value)
    assert message.startswith("cannot connect to PostgreSQL at postgresql://postgres:***@127.0.0.1:1/x: ")
    assert "Connection refused" in message and "Is the server running" in message
    assert "\n" not in message and "s3cret" not in message


def test_a_duplicate_id_is_named_exactly_on_every_submit_path(store, postgres_url):
    held, other = new_job(), new_job()
    store.submit([held])
    said = f"job id {held.id} exists already; submit it under a new id"
    for batch in ([new_job(id=held.id)], [other, new_job(id=held.id)]):
        with pytest.raises(DuplicateJob) as raised:
            store.submit(batch)
        assert str(raised.value) == said
    with psycopg.connect(postgres_url) as conn, pytest.raises(DuplicateJob) as raised:
        store.submit([new_job(id=held.id)], connection=conn)
    assert str(raised.value) == said and store.get(other.id) is None


def test_concurrent_migrations_serialize(postgres_url, pg_schemas):
    schema = pg_schemas()
    results, barrier = [], threading.Barrier(4)

    def migrate():
        barrier.wait()
        results.append(PostgresStore.migrate(postgres_url, schema=schema))

    threads = [threading.Thread(target=migrate) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [VERSION] * 4


def test_two_apps_share_a_database_through_schemas(postgres_url, pg_schemas):
    a_schema, b_schema = pg_schemas(), pg_schemas()
    for s in (a_schema, b_schema):
        PostgresStore.migrate(postgres_url, schema=s)
    a, b = PostgresStore(postgres_url, schema=a_schema), PostgresStore(postgres_url, schema=b_schema)
    job = new_job()
    a.submit([job])
    assert a.get(job.id) == job and b.get(job.id) is None
    a.close()
    b.close()


@pytest.mark.parametrize("bad", ["public; DROP", "Caps", "a-b", ""])
def test_an_unsafe_schema_name_is_refused(postgres_url, bad):
    with pytest.raises(ValueError, match="schema name"):
        PostgresStore.migrate(postgres_url, schema=bad)


def test_ids_page_in_code_point_order_whatever_the_database_collation(store):
    ids = ["B", "a", "_", "Z", "é", "z", "0"]
    store.submit([new_job(id=i) for i in ids])
    assert [j.id for j in store.list()] == sorted(ids)


@pytest.mark.slow
def test_processes_sharing_one_database_run_each_job_exactly_once(postgres_url, pg_schemas):
    schema = pg_schemas()
    PostgresStore.migrate(postgres_url, schema=schema)
    store = PostgresStore(postgres_url, schema=schema)
    now = datetime.now(UTC)
    plain = [Job.new(id=f"p{i:03d}", kind="k", now=now) for i in range(150)]
    keyed = [Job.new(id=f"k{i:03d}", kind="k", now=now, concurrency_key="one") for i in range(30)]
    store.submit(plain + keyed)
    ran = run_workers("postgres", f"{postgres_url}#{schema}", 4)
    assert Counter(r["id"] for r in ran) == Counter(j.id for j in plain + keyed)
    assert all(r["key_running"] <= r["limit"] for r in ran if r["id"].startswith("k"))
    assert store.counts() == {("default", Status.DONE): 180}
    store.close()


def test_migrate_brings_an_older_schema_up_to_date_keeping_its_jobs(postgres_url, pg_schemas):
    """A schema made by the previous release (the last migration not yet applied) is
    upgraded in place."""
    from qrun.adapters.postgres.schema import MIGRATIONS
    from qrun.adapters.postgres.store import _codec
    from qrun.adapters.sql.codec import COLUMNS
    from qrun.contract.builders import T0
    from qrun.core import DependencyFailure, Policy

    schema = pg_schemas()
    with psycopg.connect(postgres_url) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        for migration in MIGRATIONS[:-1]:
            conn.execute(migration.format(s=schema))
        conn.execute(
            f"INSERT INTO {schema}.meta (key, value) VALUES ('schema_version', %s)", (str(VERSION - 1),)
        )
        kept = new_job(payload={"n": 1})
        row = dict(zip(COLUMNS, _codec.row(kept), strict=True))
        del row["on_dependency_failure"], row["cancelled_for"]  # the columns of the last version
        marks = ", ".join("%s" for _ in row)
        conn.execute(f"INSERT INTO {schema}.jobs ({', '.join(row)}) VALUES ({marks})", tuple(row.values()))
    assert PostgresStore.migrate(postgres_url, schema=schema) == VERSION
    store = PostgresStore(postgres_url, schema=schema)
    # It keeps waiting if a dependency fails, as it was submitted to (schema 12).
    assert store.get(kept.id) == attrs.evolve(kept, on_dependency_failure=DependencyFailure.WAIT)
    kept = store.get(kept.id)
    claimed = store.claim(
        ClaimRequest("w", limit=1, now=T0, lease_until=T0 + timedelta(seconds=30), policy=Policy())
    )
    assert (
        [s.event for s in claimed[0].job.history]
        == ["Claim"]
        == [s.event for s in store.get(kept.id).history]
    )
    job = new_job()
    store.submit([job])
    assert store.get(job.id) == job
    store.close()


def test_migrate_takes_its_arguments_by_name(postgres_url, pg_schemas):
    schema = pg_schemas()
    assert PostgresStore.migrate(conninfo=postgres_url, schema=schema, connect_timeout_s=5) == VERSION
    with pytest.raises(TypeError):
        PostgresStore.migrate(postgres_url, schema)
