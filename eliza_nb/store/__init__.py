"""Memory stores: the protocol every backend implements and the SQLite default."""

from eliza_nb.store.base import MemoryStore, memory_from_row
from eliza_nb.store.sqlite import SQLiteStore

__all__ = ["MemoryStore", "SQLiteStore", "memory_from_row"]
