"""The default memory store: SQLite, in memory or in a file."""

from __future__ import annotations

import math
import sqlite3
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from eliza_nb.errors import StoreError
from eliza_nb.store.base import MemoryRow, memory_from_row, memory_to_row
from eliza_nb.types import Memory

__all__ = ["SQLiteStore"]

SCHEMA_VERSION = 1
_COLUMNS = "id, tbl, room_id, user_id, agent_id, created_at, text, action, content, embedding"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS memories (
    id TEXT PRIMARY KEY,
    tbl TEXT NOT NULL,
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    text TEXT NOT NULL,
    action TEXT,
    content TEXT NOT NULL,
    embedding TEXT
);
CREATE INDEX IF NOT EXISTS memories_room_time ON memories (tbl, room_id, created_at);
"""


class SQLiteStore:
    """Memories in SQLite: ``":memory:"`` (the default) or a file path.

    Raises:
        StoreError: the file cannot be opened or is not an eliza_nb database.
    """

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            self._db.executescript(_SCHEMA)
            self._db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            raise StoreError(
                f"Cannot use {self.path!r} as a memory database: {exc}. "
                "Pass a new file name or ':memory:'.",
                details={"path": self.path},
            ) from None

    def _query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        try:
            return self._db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"Memory database error: {exc}", details={"path": self.path}) from exc

    async def create_memory(self, memory: Memory, *, table: str) -> None:
        """Store one memory (replacing one with the same id)."""
        marks = ", ".join("?" * 10)
        self._query(f"INSERT OR REPLACE INTO memories ({_COLUMNS}) VALUES ({marks})",
                    memory_to_row(memory, table))  # fmt: skip

    async def get_memories(
        self,
        room_id: str,
        *,
        table: str,
        count: int = 10,
        start: datetime | None = None,
        end: datetime | None = None,
    ) -> list[Memory]:
        """The ``count`` most recent memories of a room (optionally in a time range), oldest first."""
        lo = start.timestamp() if start else -math.inf
        hi = end.timestamp() if end else math.inf
        rows = self._query(
            f"SELECT {_COLUMNS} FROM memories WHERE tbl = ? AND room_id = ? "
            "AND created_at >= ? AND created_at <= ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
            (table, room_id, lo, hi, count),
        )
        return [memory_from_row(r) for r in reversed(rows)]

    async def search_memories(
        self,
        room_id: str,
        *,
        table: str,
        text: str | None = None,
        embedding: Sequence[float] | None = None,
        top_k: int = 10,
    ) -> list[Memory]:
        """Memories containing ``text`` (case-insensitive), or nearest to ``embedding``."""
        if embedding is not None:
            return self._nearest(room_id, table, embedding, top_k)
        needle = f"%{(text or '').lower()}%"
        rows = self._query(
            f"SELECT {_COLUMNS} FROM memories WHERE tbl = ? AND room_id = ? AND lower(text) LIKE ? "
            "ORDER BY created_at DESC LIMIT ?",
            (table, room_id, needle, top_k),
        )
        return [memory_from_row(r) for r in rows]

    def _nearest(
        self, room_id: str, table: str, query: Sequence[float], top_k: int
    ) -> list[Memory]:
        import json

        rows = self._query(
            f"SELECT {_COLUMNS} FROM memories WHERE tbl = ? AND room_id = ? "
            "AND embedding IS NOT NULL",
            (table, room_id),
        )
        qnorm = math.sqrt(sum(x * x for x in query)) or 1.0
        scored = []
        for row in rows:
            vec = json.loads(row[9])
            if len(vec) != len(query):
                continue
            dot = sum(a * b for a, b in zip(vec, query, strict=True))
            norm = math.sqrt(sum(x * x for x in vec)) or 1.0
            scored.append((dot / (norm * qnorm), row))
        scored.sort(key=lambda pair: pair[0], reverse=True)
        return [memory_from_row(row) for _, row in scored[:top_k]]

    async def count_memories(self, room_id: str | None, *, table: str) -> int:
        """How many memories a room (or the whole table, for None) holds."""
        if room_id is None:
            return int(self._query("SELECT count(*) FROM memories WHERE tbl = ?", (table,))[0][0])
        sql = "SELECT count(*) FROM memories WHERE tbl = ? AND room_id = ?"
        return int(self._query(sql, (table, room_id))[0][0])

    async def remove_memory(self, memory_id: uuid.UUID | str, *, table: str) -> bool:
        """Delete one memory; True if it existed."""
        before = self._db.total_changes
        self._query("DELETE FROM memories WHERE id = ? AND tbl = ?", (str(memory_id), table))
        return self._db.total_changes > before

    async def remove_all_memories(self, room_id: str, *, table: str) -> int:
        """Delete every memory of a room; returns how many were deleted."""
        before = self._db.total_changes
        self._query("DELETE FROM memories WHERE tbl = ? AND room_id = ?", (table, room_id))
        return self._db.total_changes - before

    def memory_rows(self, room_id: str | None = None, table: str | None = None) -> list[MemoryRow]:
        """Raw rows for ``memories_frame``, oldest first."""
        where, params = [], []
        if room_id is not None:
            where.append("room_id = ?")
            params.append(room_id)
        if table is not None:
            where.append("tbl = ?")
            params.append(table)
        clause = f" WHERE {' AND '.join(where)}" if where else ""
        sql = f"SELECT {_COLUMNS} FROM memories{clause} ORDER BY created_at, rowid"
        return [tuple(r) for r in self._query(sql, params)]  # type: ignore[misc]

    def close(self) -> None:
        """Close the connection (idempotent)."""
        self._db.close()
