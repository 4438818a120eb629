"""The contract, applied to the PostgreSQL store on a real server (a schema per store)."""

import psycopg
import pytest

from qrun.adapters.postgres import PostgresStore
from qrun.contract import JobStoreContract, StoreNameLoss

pytestmark = pytest.mark.postgres


class TestPostgresStore(JobStoreContract, StoreNameLoss):
    state_machine_examples = 20

    @pytest.fixture
    def lose_name(self, postgres_url):
        def terminate(store, name):
            with psycopg.connect(postgres_url, autocommit=True) as conn:
                ended = conn.execute(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name = %s",
                    (store.name_lock_label(name),),
                ).fetchone()
            assert ended == (1,)

        return terminate

    @pytest.fixture
    def make_store(self, postgres_url, pg_schemas):
        stores = []

        def make():
            schema = pg_schemas()
            PostgresStore.migrate(postgres_url, schema=schema)
            stores.append(PostgresStore(postgres_url, schema=schema, max_size=self.race_threads + 2))
            return stores[-1]

        yield make
        for s in stores:
            s.close()
