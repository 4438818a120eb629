"""The contract, applied to the in-memory reference store."""

import pytest

from qrun.adapters.memory import MemoryStore
from qrun.contract import JobStoreContract


class TestMemoryStore(JobStoreContract):
    state_machine_examples = 150

    @pytest.fixture
    def make_store(self):
        return MemoryStore
