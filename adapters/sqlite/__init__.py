"""The SQLite store (stdlib sqlite3)."""

from .schema import VERSION
from .store import SqliteStore

__all__ = ["VERSION", "SqliteStore"]
