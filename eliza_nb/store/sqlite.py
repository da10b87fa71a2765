"""The default store: SQLite, in memory or in a file (memories and run history)."""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eliza_nb.errors import StoreError, ValidationError
from eliza_nb.store._history import STAGE_SQL, HistoryMixin
from eliza_nb.store._schema import SCHEMA_VERSION, prepare, store_error
from eliza_nb.store.base import (
    MemoryRow,
    TimeBound,
    content_to_json,
    embedding_to_blob,
    epoch_us,
    memory_fields,
    memory_to_row,
    us_bounds,
)
from eliza_nb.types import Memory

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

log = logging.getLogger("eliza_nb.store")

_COLUMNS = "id, tbl, room_id, user_id, agent_id, created_us, text, action, content, embedding"
_ON_CONFLICT = (
    "ON CONFLICT (id) DO UPDATE SET tbl = excluded.tbl, room_id = excluded.room_id, "
    "user_id = excluded.user_id, agent_id = excluded.agent_id, "
    "created_us = excluded.created_us, text = excluded.text, action = excluded.action, "
    "content = excluded.content, embedding = excluded.embedding"
)
_UPSERT = f"INSERT INTO memories ({_COLUMNS}) VALUES ({', '.join('?' * 10)}) {_ON_CONFLICT}"
# Bulk writes go through a staging table and ONE statement: FTS5 flushes its pending index at
# every statement that fires a trigger, so executemany() straight into ``memories`` would be
# seven times slower. The merge (in SQLite, without the GIL) also fills in the table name and
# takes text and action out of the content JSON, so fewer values are bound from Python.
_STAGED = "id, room_id, user_id, agent_id, created_us, content, embedding"
_MEMORY_STAGE = f"CREATE TEMP TABLE IF NOT EXISTS memory_stage ({_STAGED})"
_STAGE_ROW = f"INSERT INTO temp.memory_stage VALUES ({', '.join('?' * 7)})"
_BULK_CHUNK = 8192
_UPSERT_STAGED = (
    f"INSERT INTO memories ({_COLUMNS}) SELECT id, ?, room_id, user_id, agent_id, created_us, "
    "coalesce(json_extract(content, '$.text'), ''), json_extract(content, '$.action'), "
    f"content, embedding FROM temp.memory_stage WHERE true ORDER BY rowid {_ON_CONFLICT}"
)
# The order ``memory_fields`` expects.
_FIELDS = "m.id, m.room_id, m.user_id, m.agent_id, m.created_us, m.content, m.embedding"
_WORD = re.compile(r"\w+")


class SQLiteStore(HistoryMixin):
    """Memories and run history in SQLite: ``":memory:"`` (the default) or a file path.

    A file is opened in WAL mode (readers never block the writer) with ``synchronous=NORMAL``:
    a committed write survives the process being killed; a power cut may lose the last
    transactions. Several runtimes, in one process or several, may share a file.

    One connection per store; every call holds the store's lock, so the runtime's background
    flusher and the notebook never interleave inside a transaction.

    Args:
        path: A file path, or ``":memory:"`` for a database that lives as long as the store.
        timeout: Seconds a write waits for another connection's write to finish before it
            fails with ``StoreError`` ("database is locked").

    Raises:
        StoreError: the file cannot be opened, is not a SQLite database, is corrupted, belongs
            to another application, or was written by a newer eliza_nb.
    """

    def __init__(self, path: str | Path = ":memory:", *, timeout: float = 10.0) -> None:
        self.path = str(path)
        self.persistent = self.path not in ("", ":memory:")
        self._lock = threading.RLock()
        self._name_ids = {None: 0}
        try:
            db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc, "open") from None
        try:
            db.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
            prepare(db, self.path)
            for pragma in ("synchronous = NORMAL", "temp_store = MEMORY"):
                db.execute(f"PRAGMA {pragma}")
            db.executescript(f"{STAGE_SQL}{_MEMORY_STAGE};")
        except sqlite3.Error as exc:
            db.close()
            raise store_error(self.path, exc, "open") from None
        except BaseException:
            db.close()
            raise
        self._db: sqlite3.Connection | None = db
        log.debug("opened %s (schema %d)", self.path, SCHEMA_VERSION)

    # -- plumbing -----------------------------------------------------------------------
    @contextmanager
    def _using(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            if self._db is None:
                raise StoreError(
                    f"The database {self.path!r} is closed; create a new runtime.",
                    details={"path": self.path},
                )
            try:
                yield self._db
            except sqlite3.Error as exc:
                raise StoreError(
                    f"Database error in {self.path!r}: {exc}", details={"path": self.path}
                ) from exc

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: all of it is committed, or none of it."""
        with self._using() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                if db.in_transaction:
                    db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (idempotent); later calls raise ``StoreError``."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def __repr__(self) -> str:
        state = "closed" if self._db is None else "open"
        return f"SQLiteStore({self.path!r}, {state})"

    # -- memories -----------------------------------------------------------------------
    async def create_memory(self, memory: Memory, *, table: str) -> None:
        """Store one memory (replacing one with the same id), committed at once."""
        row = memory_to_row(memory, table)
        with self._using() as db:
            db.execute(_UPSERT, row)

    async def create_memories(self, memories: Sequence[Memory], *, table: str) -> int:
        """Store many memories in one transaction (all or none); returns how many.

        Large batches go in chunks: while SQLite merges one chunk into ``memories`` and the
        full-text index (in a worker thread, without the GIL), the next chunk is converted.
        """
        chunks = [memories[i : i + _BULK_CHUNK] for i in range(0, len(memories), _BULK_CHUNK)]
        with self._transaction() as db:
            if len(chunks) <= 1:
                for chunk in chunks:
                    db.executemany(_STAGE_ROW, [_stage_row(m) for m in chunk])
                    _merge_stage(db, table)
                return len(memories)
            with ThreadPoolExecutor(1, thread_name_prefix="eliza_nb-bulk") as merger:
                merged: Future[None] | None = None
                for chunk in chunks:
                    rows = [_stage_row(m) for m in chunk]
                    if merged is not None:
                        merged.result()
                    db.executemany(_STAGE_ROW, rows)
                    merged = merger.submit(_merge_stage, db, table)
                if merged is not None:
                    merged.result()
        return len(memories)

    async def get_memories(
        self,
        room_id: str,
        *,
        table: str,
        count: int = 10,
        start: TimeBound = None,
        end: TimeBound = None,
    ) -> list[Memory]:
        """The ``count`` most recent memories of a room (in ``[start, end]``), oldest first."""
        lo, hi = us_bounds(start, end)
        sql = (
            f"SELECT {_FIELDS} FROM memories AS m WHERE room_id = ? AND tbl = ? "
            "AND created_us >= ? AND created_us <= ? ORDER BY created_us DESC, seq DESC "
            "LIMIT ?"
        )
        with self._using() as db:
            rows = db.execute(sql, (room_id, table, lo, hi, count)).fetchall()
        rows.reverse()
        return _validate(rows)

    async def search_memories(
        self,
        room_id: str,
        *,
        table: str,
        text: str | None = None,
        embedding: Sequence[float] | None = None,
        top_k: int = 10,
    ) -> list[Memory]:
        """Memories of a room matching ``text`` (FTS5, best match first) or nearest to
        ``embedding`` (cosine similarity, most similar first).

        Text search matches words and their stems ("run" finds "running"); each word of the
        query must occur, and a word also matches as a prefix ("hel" finds "hello").
        """
        if embedding is not None:
            return self._nearest(room_id, table, embedding, top_k)
        terms = _WORD.findall(text or "")
        if not terms or top_k <= 0:
            return []
        query = " ".join(f'"{term}"*' for term in terms)
        sql = (
            f"SELECT {_FIELDS} FROM memories_fts AS f JOIN memories AS m ON m.seq = f.rowid "
            "WHERE memories_fts MATCH ? AND m.room_id = ? AND m.tbl = ? "
            "ORDER BY f.rank, m.created_us DESC LIMIT ?"
        )
        with self._using() as db:
            return _validate(db.execute(sql, (query, room_id, table, top_k)).fetchall())

    def _nearest(
        self, room_id: str, table: str, query: Sequence[float], top_k: int
    ) -> list[Memory]:
        import numpy as np

        q = np.asarray(query, dtype="<f8")
        if q.ndim != 1 or q.size == 0:
            raise ValidationError(
                "embedding must be a non-empty list of numbers", field="embedding"
            )
        sql = (
            "SELECT seq, embedding FROM memories WHERE room_id = ? AND tbl = ? "
            "AND length(embedding) = ?"
        )
        with self._using() as db:
            hits = db.execute(sql, (room_id, table, q.size * 8)).fetchall()
            if not hits or top_k <= 0:
                return []
            matrix = np.frombuffer(b"".join(h[1] for h in hits), dtype="<f8")
            matrix = matrix.reshape(len(hits), q.size)
            norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(q) or 1.0)
            scores = (matrix @ q) / np.where(norms == 0, 1.0, norms)
            best = np.argsort(-scores, kind="stable")[:top_k]
            seqs = [hits[i][0] for i in best]
            marks = ", ".join("?" * len(seqs))
            rows = db.execute(
                f"SELECT m.seq, {_FIELDS} FROM memories AS m WHERE m.seq IN ({marks})", seqs
            ).fetchall()
        by_seq = {row[0]: row[1:] for row in rows}
        return _validate([by_seq[s] for s in seqs])

    async def count_memories(self, room_id: str | None, *, table: str) -> int:
        """How many memories a room (or the whole table, for None) holds."""
        with self._using() as db:
            if room_id is None:
                row = db.execute("SELECT count(*) FROM memories WHERE tbl = ?", (table,))
            else:
                row = db.execute(
                    "SELECT count(*) FROM memories WHERE room_id = ? AND tbl = ?", (room_id, table)
                )
            return int(row.fetchone()[0])

    async def remove_memory(self, memory_id: uuid.UUID | str, *, table: str) -> bool:
        """Delete one memory; True if it existed."""
        with self._using() as db:
            cur = db.execute(
                "DELETE FROM memories WHERE id = ? AND tbl = ?", (_canonical_id(memory_id), table)
            )
            return cur.rowcount > 0

    async def remove_all_memories(self, room_id: str, *, table: str) -> int:
        """Delete every memory of a room in one transaction; returns how many were deleted."""
        with self._transaction() as db:
            cur = db.execute("DELETE FROM memories WHERE room_id = ? AND tbl = ?", (room_id, table))
            return int(cur.rowcount)

    def memory_rows(
        self,
        room_id: str | None = None,
        table: str | None = None,
        *,
        start: TimeBound = None,
        end: TimeBound = None,
    ) -> list[MemoryRow]:
        """Raw rows for ``memories_frame``, oldest first (``MemoryRow`` layout)."""
        lo, hi = us_bounds(start, end)
        where = ["created_us >= ?", "created_us <= ?"]
        params: list[Any] = [lo, hi]
        for column, value in (("room_id", room_id), ("tbl", table)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        sql = (
            f"SELECT id, tbl, room_id, user_id, agent_id, created_us / 1e6, text, action, "
            f"content, embedding FROM memories WHERE {' AND '.join(where)} "
            "ORDER BY created_us, seq"
        )
        with self._using() as db:
            return db.execute(sql, params).fetchall()


def _stage_row(memory: Memory) -> tuple[Any, ...]:
    """The staged columns of a memory (``_STAGED``): ``memory_to_row`` minus what SQL derives."""
    embedding = memory.embedding
    return (
        str(memory.id),
        memory.room_id,
        memory.user_id,
        memory.agent_id,
        epoch_us(memory.created_at),
        content_to_json(memory.content),
        None if embedding is None else embedding_to_blob(embedding),
    )


def _merge_stage(db: sqlite3.Connection, table: str) -> None:
    db.execute(_UPSERT_STAGED, (table,))
    db.execute("DELETE FROM temp.memory_stage")


def _canonical_id(memory_id: uuid.UUID | str) -> str:
    try:
        return str(memory_id if isinstance(memory_id, uuid.UUID) else uuid.UUID(str(memory_id)))
    except ValueError:
        return str(memory_id)  # not a UUID: matches nothing, like any unknown id


_MEMORY_LIST: Any = None


def _validate(rows: list[Any]) -> list[Memory]:
    """Validated memories from stored rows (one pydantic call for the whole list)."""
    global _MEMORY_LIST
    if _MEMORY_LIST is None:
        from pydantic import TypeAdapter

        _MEMORY_LIST = TypeAdapter(list[Memory])
    result: list[Memory] = _MEMORY_LIST.validate_python([memory_fields(r) for r in rows])
    return result
