"""The JobStore contract suite, shipped so a third party can hold its own store to it.

    import pytest
    from qrun.contract import JobStoreContract

    class TestMyStore(JobStoreContract):
        @pytest.fixture
        def make_store(self):
            return lambda: MyStore(...)   # each call: a fresh, empty store

A store whose name holds can end under a live holder (a lock that lives on a database
connection) also subclasses `StoreNameLoss` and gives its `lose_name` fixture.

Needs the `contract` extra (pytest, hypothesis).
"""

from .base import MakeStore, StoreFixtures
from .names import StoreNameLoss
from .suite import JobStoreContract

__all__ = ["JobStoreContract", "MakeStore", "StoreFixtures", "StoreNameLoss"]
