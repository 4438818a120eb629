"""The simulation (tests/sim) on the stores users run: a SQLite file and a PostgreSQL
server. Fewer seeds than on the memory store (each write here is a real commit), the same
promises checked after every step."""

import pytest
from sim import simulate

from qrun.adapters.postgres import PostgresStore
from qrun.adapters.sqlite import SqliteStore

SEEDS = range(20)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_simulation_holds_on_sqlite(tmp_path, seed):
    path = tmp_path / "qrun.db"
    SqliteStore.migrate(path)
    store = SqliteStore(path)
    try:
        simulate(seed, store)
    finally:
        store.close()


@pytest.mark.postgres
@pytest.mark.parametrize("seed", SEEDS)
def test_the_simulation_holds_on_postgres(postgres_url, pg_schemas, seed):
    schema = pg_schemas()
    PostgresStore.migrate(postgres_url, schema=schema)
    store = PostgresStore(postgres_url, schema=schema)
    try:
        simulate(seed, store)
    finally:
        store.close()
