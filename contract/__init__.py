"""The JobStore contract suite, shipped so a third party can hold its own store to it.

    import pytest
    from qrun.contract import JobStoreContract

    class TestMyStore(JobStoreContract):
        @pytest.fixture
        def make_store(self):
            return lambda: MyStore(...)   # each call: a fresh, empty store

Needs the `contract` extra (pytest, hypothesis).
"""

from .base import MakeStore, StoreFixtures
from .suite import JobStoreContract

__all__ = ["JobStoreContract", "MakeStore", "StoreFixtures"]
