"""The in-memory reference store."""

from .store import MemoryStore

__all__ = ["MemoryStore"]
