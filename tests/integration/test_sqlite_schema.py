"""SQLite schema versioning, prefixes, and refusing what cannot work."""

import sqlite3
from datetime import timedelta

import attrs
import pytest

from qrun.adapters.sql.codec import COLUMNS
from qrun.adapters.sqlite import VERSION, SqliteStore
from qrun.contract.builders import new_job
from qrun.core import ClaimRequest
from qrun.core.ports import SchemaVersionError, StoreUnreachable


def test_a_file_without_the_schema_is_refused_with_how_to_create_it(tmp_path):
    with pytest.raises(SchemaVersionError, match=r"no qrun schema .* SqliteStore\.migrate"):
        SqliteStore(tmp_path / "empty.db")


def test_a_newer_schema_is_refused_naming_both_versions(tmp_path):
    path = tmp_path / "newer.db"
    SqliteStore.migrate(path)
    with sqlite3.connect(path) as c:
        c.execute("UPDATE qrun_meta SET value = ? WHERE key = 'schema_version'", (str(VERSION + 1),))
    with pytest.raises(SchemaVersionError, match=f"version {VERSION + 1}, newer than version {VERSION}"):
        SqliteStore(path)
    with pytest.raises(SchemaVersionError, match=f"version {VERSION + 1}"):
        SqliteStore.migrate(path)


def test_migrate_is_idempotent(tmp_path):
    path = tmp_path / "twice.db"
    assert SqliteStore.migrate(path) == SqliteStore.migrate(path) == VERSION


def test_two_apps_share_a_file_through_prefixes(tmp_path):
    path = tmp_path / "shared.db"
    SqliteStore.migrate(path, prefix="app_a_")
    SqliteStore.migrate(path, prefix="app_b_")
    a, b = SqliteStore(path, prefix="app_a_"), SqliteStore(path, prefix="app_b_")
    job = new_job()
    a.submit([job])
    assert a.get(job.id) == job and b.get(job.id) is None
    a.close()
    b.close()


@pytest.mark.parametrize("bad", ["Robert'); DROP TABLE x;--", "1abc", "a-b", ""])
def test_an_unsafe_prefix_is_refused(tmp_path, bad):
    with pytest.raises(ValueError, match="table prefix"):
        SqliteStore.migrate(tmp_path / "x.db", prefix=bad)


@pytest.mark.parametrize("where", [":memory:", "", "file::memory:?cache=shared"])
def test_an_in_memory_database_is_refused_with_the_alternative(where):
    with pytest.raises(ValueError, match="MemoryStore"):
        SqliteStore(where)


def test_migrate_brings_an_older_schema_up_to_date_keeping_its_jobs(tmp_path):
    """A file made by the previous release (the last migration not yet applied) is
    upgraded in place."""
    from qrun.adapters.sqlite.schema import MIGRATIONS
    from qrun.adapters.sqlite.store import _codec
    from qrun.contract.builders import T0
    from qrun.core import DependencyFailure, Policy

    path = tmp_path / "older.db"
    with sqlite3.connect(path) as c:
        for migration in MIGRATIONS[:-1]:
            c.executescript(migration.format(p="qrun_"))
        c.execute("INSERT INTO qrun_meta (key, value) VALUES ('schema_version', ?)", (str(VERSION - 1),))
        kept = new_job(payload={"n": 1})
        row = dict(zip(COLUMNS, _codec.row(kept), strict=True))
        del row["on_dependency_failure"], row["cancelled_for"]  # the columns of the last version
        c.execute(
            f"INSERT INTO qrun_jobs ({', '.join(row)}) VALUES ({', '.join('?' for _ in row)})",
            tuple(row.values()),
        )
    assert SqliteStore.migrate(path) == VERSION
    store = SqliteStore(path)
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


def test_moving_the_large_columns_last_keeps_every_job_as_it_was(tmp_path):
    """Migration 8 rebuilds the jobs table (payload, result and error last, a rowid
    table): every field of a job written under version 7 reads back the same, and the
    rebuilt indexes still hand out jobs and hold unique keys and pool slots."""
    import attrs

    from qrun.adapters.sqlite.schema import MIGRATIONS
    from qrun.adapters.sqlite.store import _codec
    from qrun.contract.builders import T0, ok
    from qrun.core import DependencyFailure, FollowUp, Policy, Unique

    WAIT = DependencyFailure.WAIT

    path = tmp_path / "v7.db"
    with sqlite3.connect(path) as c:
        for migration in MIGRATIONS[:7]:
            c.executescript(migration.format(p="qrun_"))
        c.execute("INSERT INTO qrun_meta (key, value) VALUES ('schema_version', '7')")
    plain = new_job(payload={"big": "x" * 100_000}, priority=3)
    rich = new_job(
        payload={"argv": ["make", "ü"]},
        queue="q",
        concurrency_key="k",
        unique=Unique("u"),
        batch="b",
        follow_up=FollowUp("next", {"n": 1}),
        max_attempts=7,
    )
    claimed = ok(rich, rich_claim(rich)).job
    finished = attrs.evolve(new_job(), error="Traceback ...", result={"ok": [1, 2]})
    with sqlite3.connect(path) as c:
        for job in (plain, claimed, finished):
            row = dict(zip(COLUMNS, _codec.row(job), strict=True))
            del row["backoff"], row["history"]  # columns of versions 8 and 9
            del row["on_dependency_failure"], row["cancelled_for"]  # and of 12
            marks = ", ".join("?" for _ in row)
            c.execute(f"INSERT INTO qrun_jobs ({', '.join(row)}) VALUES ({marks})", tuple(row.values()))
    assert SqliteStore.migrate(path) == VERSION
    store = SqliteStore(path)
    # Timelines begin at version 9; jobs from before 12 keep waiting if a dependency fails.
    old = [j.evolve(history=(), on_dependency_failure=WAIT) for j in (plain, claimed, finished)]
    assert [store.get(j.id) for j in (plain, claimed, finished)] == old
    again = new_job(queue="q", unique=Unique("u"))
    assert store.submit([again]) == [claimed.id]  # the unique key is still held
    got = store.claim(
        ClaimRequest("w", limit=5, now=T0, lease_until=T0 + timedelta(seconds=30), policy=Policy())
    )
    assert [d.job.id for d in got] == [plain.id, finished.id]  # by priority; the running job stays
    store.close()


def rich_claim(job):
    from qrun.contract.builders import T0
    from qrun.core import Claim
    from qrun.core.claim import run_id_for

    return Claim("w0", run_id_for(job), T0 + timedelta(seconds=30))


def test_close_closes_every_connection_it_opened(tmp_path):
    """Leaving the WAL mode needs the file to itself: it works only once the store let go."""
    import threading

    path = tmp_path / "closing.db"
    SqliteStore.migrate(path)
    store = SqliteStore(path)
    store.submit([new_job()])
    worker = threading.Thread(target=store.list)  # a connection of another thread
    worker.start()
    worker.join()
    store.close()
    with sqlite3.connect(path, timeout=0) as c:
        assert c.execute("PRAGMA journal_mode = DELETE").fetchone()[0] == "delete"


def test_a_file_that_is_not_a_database_is_refused_naming_it(tmp_path):
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a database, just words " * 100)
    with pytest.raises(
        StoreUnreachable, match=r"cannot open the SQLite database .*notes.txt: file is not a database"
    ):
        SqliteStore(garbage)
    with pytest.raises(StoreUnreachable, match=r"cannot open the SQLite database .*notes.txt"):
        SqliteStore.migrate(garbage)
    missing = tmp_path / "no" / "such" / "folder" / "q.db"
    with pytest.raises(StoreUnreachable, match=r"its folder .*folder does not exist"):
        SqliteStore(missing)


def test_migrate_takes_the_path_by_name_and_the_prefix_only_by_name(tmp_path):
    assert SqliteStore.migrate(path=tmp_path / "q.db", prefix="app_") == VERSION
    with pytest.raises(TypeError):
        SqliteStore.migrate(tmp_path / "q.db", "app_")


def test_times_are_stored_as_microseconds_since_the_unix_epoch(tmp_path):
    """The file format: another reader (or an older qrun) reads the same instant."""
    from datetime import UTC, datetime

    path = tmp_path / "times.db"
    SqliteStore.migrate(path)
    store = SqliteStore(path)
    when = datetime(2026, 12, 1, 4, 7, 28, 123456, tzinfo=UTC)
    job = new_job(now=when)
    store.submit([job])
    store.close()
    with sqlite3.connect(path) as c:
        (raw,) = c.execute("SELECT requested_at FROM qrun_jobs WHERE id = ?", (job.id,)).fetchone()
    assert raw == int(when.timestamp()) * 1_000_000 + 123456


def test_a_store_made_closed_touches_nothing_until_it_is_used(tmp_path):
    """`open=False`: the file is not read (nor made) until the first use, which checks
    the schema then; a use after the schema was made meanwhile works."""
    from qrun.core.ports import SchemaVersionError

    path = tmp_path / "later.db"
    store = SqliteStore(path, open=False)
    assert not path.exists()
    with pytest.raises(SchemaVersionError, match="no qrun schema"):
        store.get("x")
    SqliteStore.migrate(path)
    job = new_job()
    store.submit([job])
    assert store.get(job.id) == job
    store.close()
