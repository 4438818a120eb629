"""The contract, applied to the SQLite store on real files."""

import itertools

import pytest

from qrun.adapters.sqlite import SqliteStore
from qrun.contract import JobStoreContract, StoreNameLoss


class TestSqliteStore(JobStoreContract, StoreNameLoss):
    state_machine_examples = 40

    @pytest.fixture
    def lose_name(self):
        def remove(store, name):  # a cleaner of old files, or a hand, removes the lock file
            (found,) = store.path.parent.glob(f"{store.path.name}.*{name}.lock")
            found.unlink()

        return remove

    @pytest.fixture
    def make_store(self, tmp_path):
        stores = []
        counter = itertools.count()

        def make():
            path = tmp_path / f"store-{next(counter)}.db"
            SqliteStore.migrate(path)
            stores.append(SqliteStore(path))
            return stores[-1]

        yield make
        for s in stores:
            s.close()
