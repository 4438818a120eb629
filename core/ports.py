"""The ports: what adapters implement, in three parts, each a module of its own and all
importable from here (`from qrun.core.ports import JobStore, Runner, StoreError`):

- `store_ports`: the Protocols a store implements (`JobStore` and the optional ones:
  `ApplyThenClaim`, `Examinable`, `DaemonRegistry`, ...) and the plain results they return;
- `store_errors`: what a store refuses (`StoreError` and its kinds);
- `runner_ports`: the Protocols a runner implements, and the pools, inputs, notifiers
  and clock the runtime is handed.

Results are plain attrs types, so a third-party adapter needs nothing but attrs."""

from __future__ import annotations

from .runner_ports import (
    Adopted,
    Clock,
    Exit,
    ExitPeek,
    ExitWatch,
    Gone,
    InProcess,
    InputStore,
    KeepsOutput,
    Notifier,
    PoolResource,
    RunLogs,
    Runner,
    RunnerUnavailable,
)
from .store_errors import (
    BatchNotFinished,
    DuplicateEvent,
    DuplicateJob,
    NameTaken,
    SchemaVersionError,
    StoreError,
    StoreUnreachable,
    UniqueConflict,
    UnknownDependency,
    unique_conflict_message,
)
from .store_ports import (
    Applied,
    ApplyResult,
    ApplyThenClaim,
    AsyncStore,
    Conflict,
    DaemonRegistry,
    EventStore,
    Examinable,
    JobFilter,
    JobStore,
    Listener,
    Listens,
    NameHold,
    NameLocks,
    Opens,
    SessionStore,
    WorkflowStore,
)

__all__ = [
    "ApplyResult",
    "Adopted",
    "Applied",
    "ApplyThenClaim",
    "AsyncStore",
    "BatchNotFinished",
    "Clock",
    "Conflict",
    "DaemonRegistry",
    "DuplicateEvent",
    "DuplicateJob",
    "EventStore",
    "Examinable",
    "Exit",
    "ExitPeek",
    "ExitWatch",
    "Gone",
    "InProcess",
    "InputStore",
    "JobFilter",
    "JobStore",
    "KeepsOutput",
    "Listener",
    "Listens",
    "NameHold",
    "NameLocks",
    "NameTaken",
    "Notifier",
    "Opens",
    "PoolResource",
    "RunLogs",
    "Runner",
    "RunnerUnavailable",
    "SchemaVersionError",
    "SessionStore",
    "StoreError",
    "StoreUnreachable",
    "UniqueConflict",
    "UnknownDependency",
    "WorkflowStore",
    "unique_conflict_message",
]
