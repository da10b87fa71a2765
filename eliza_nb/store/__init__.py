"""Stores: the protocols every backend implements, the run-history query, and the SQLite default.

``base`` holds the protocols and the :class:`RecordQuery` every record source answers;
``sqlite`` the default store; ``lists`` a session's records in memory as a record source;
``writer`` the background writer of a recorder's records to a file store.
"""

from eliza_nb.store.base import (
    MemoryStore,
    RecordQuery,
    RecordSource,
    RecordStore,
    memory_from_row,
)
from eliza_nb.store.sqlite import SCHEMA_VERSION, SQLiteStore

__all__ = [
    "SCHEMA_VERSION",
    "MemoryStore",
    "RecordQuery",
    "RecordSource",
    "RecordStore",
    "SQLiteStore",
    "memory_from_row",
]
