"""The PostgreSQL store (psycopg 3, psycopg_pool). Install with the `postgres` extra."""

from .schema import VERSION
from .store import Listener, PostgresStore

__all__ = ["VERSION", "Listener", "PostgresStore"]
