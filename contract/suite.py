"""`JobStoreContract`: the one class a store's tests subclass."""

from __future__ import annotations

from .base import MakeStore
from .batched import StoreApplyThenClaim, StoreBatchedWrites
from .batches import StoreBatches
from .daemons import StoreDaemons
from .dependents import StoreDependents
from .edges import StoreEdges
from .features import StoreFeatures
from .impossible import StoreImpossibleRows
from .names import StoreNameLocks
from .obligations import StoreObligations
from .pools import StorePools
from .races import StoreRaces
from .sessions import StoreSessions
from .stateful import run_against_reference
from .suspects import StoreSuspects
from .timeline import StoreTimeline
from .topics import StoreTopics


class JobStoreContract(
    StoreObligations,
    StoreImpossibleRows,
    StoreEdges,
    StoreDependents,
    StoreBatchedWrites,
    StoreApplyThenClaim,
    StoreFeatures,
    StoreNameLocks,
    StorePools,
    StoreBatches,
    StoreTopics,
    StoreSessions,
    StoreRaces,
    StoreDaemons,
    StoreSuspects,
    StoreTimeline,
):
    """Every obligation of the JobStore port, the races, and a stateful comparison with
    the reference model (model.py). Subclass it and override the `make_store` fixture."""

    def test_agrees_with_the_reference_under_random_operations(self, make_store: MakeStore) -> None:
        run_against_reference(make_store, self.state_machine_examples)
