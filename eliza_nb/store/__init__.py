"""Stores: the protocols every backend implements, and the SQLite default."""

from eliza_nb.store.base import MemoryStore, RecordStore, memory_from_row
from eliza_nb.store.sqlite import SCHEMA_VERSION, SQLiteStore

__all__ = ["SCHEMA_VERSION", "MemoryStore", "RecordStore", "SQLiteStore", "memory_from_row"]
