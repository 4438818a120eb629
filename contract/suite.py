"""`JobStoreContract`: the one class a store's tests subclass."""

from __future__ import annotations

from .apply import StoreApply
from .base import MakeStore
from .batched import StoreApplyThenClaim, StoreBatchedWrites
from .batches import StoreBatches
from .cancel import StoreCancellation
from .claim import StoreClaim
from .daemons import StoreDaemons
from .dependents import StoreDependents
from .impossible import StoreImpossibleRows
from .keys import StoreUniqueKeys
from .leases import StoreLeases
from .names import StoreNameLocks
from .pools import StorePools
from .queues import StoreQueuePause
from .races import StoreRaces
from .reads import StoreReads
from .retention import StoreRetention
from .sessions import StoreSessions
from .stateful import run_against_reference
from .submit import StoreSubmit
from .suspects import StoreSuspects
from .timeline import StoreTimeline
from .topics import StoreTopics


class JobStoreContract(
    StoreSubmit,
    StoreClaim,
    StoreApply,
    StoreLeases,
    StoreReads,
    StoreImpossibleRows,
    StoreDependents,
    StoreBatchedWrites,
    StoreApplyThenClaim,
    StoreUniqueKeys,
    StoreCancellation,
    StoreRetention,
    StoreQueuePause,
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
