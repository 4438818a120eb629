"""Which errors mean "the database is not there right now" (R-H2): a refused or dropped
connection, a server shutting down, a pool that found no live connection in time. Those
are waited out; every other error is an answer, and stands."""

from __future__ import annotations

import sys

from qrun.core.ports import StoreUnreachable

_TRANSIENT = (
    ("psycopg", ("OperationalError", "InterfaceError")),
    ("psycopg_pool", ("PoolTimeout", "TooManyRequests")),
    ("sqlite3", ("OperationalError",)),  # "database is locked" past the busy timeout, a lost disk
)


def is_outage(exc: BaseException) -> bool:
    if isinstance(exc, StoreUnreachable):
        return True
    for module, names in _TRANSIENT:
        loaded = sys.modules.get(module)  # a driver never imported raised nothing
        kinds = tuple(getattr(loaded, n) for n in names if hasattr(loaded, n)) if loaded else ()
        if kinds and isinstance(exc, kinds):
            return True
    return False
