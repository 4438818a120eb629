"""The contract, applied to the PostgreSQL store on a real server (a schema per store)."""

import pytest

from qrun.adapters.postgres import PostgresStore
from qrun.contract import JobStoreContract

pytestmark = pytest.mark.postgres


class TestPostgresStore(JobStoreContract):
    state_machine_examples = 20

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
