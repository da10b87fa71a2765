"""The SQLite schema of an eliza_nb database: its version, creation and in-place upgrades.

The file records two numbers in its header: ``application_id`` (marks it as an eliza_nb
database) and ``user_version`` (the schema version). Opening a file of an older version upgrades
it in place, in one transaction; a file of a newer version, or another application's database,
is refused with a :class:`~eliza_nb.errors.StoreError` before anything in it is changed.

Schema history:
    1. ``memories`` with REAL seconds and JSON embeddings (eliza_nb 0.1 core).
    2. ``memories`` with exact microsecond times, float64 embeddings and an FTS5 index;
       ``names``, ``sessions``, ``runs``, ``errors`` and the ``run_log`` view.
    3. ``spans``: the run traces (``eliza_nb.tracing``).
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable

from eliza_nb.errors import StoreError
from eliza_nb.store.base import embedding_to_blob

__all__ = ["APPLICATION_ID", "SCHEMA_VERSION", "prepare", "store_error"]

log = logging.getLogger("eliza_nb.store")

SCHEMA_VERSION = 3
APPLICATION_ID = 0x456C697A  # "Eliz"

_MEMORIES = """
CREATE TABLE memories (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    tbl TEXT NOT NULL,
    room_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    created_us INTEGER NOT NULL,    -- UTC microseconds since 1970-01-01
    text TEXT NOT NULL,
    action TEXT,
    content TEXT NOT NULL,          -- Content as JSON
    embedding BLOB                  -- little-endian float64 values, or NULL
);
CREATE INDEX memories_room_time ON memories (room_id, created_us);
CREATE VIRTUAL TABLE memories_fts USING fts5(
    text, content='memories', content_rowid='seq',
    tokenize='porter unicode61 remove_diacritics 2'
);
CREATE TRIGGER memories_fts_insert AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, text) VALUES (new.seq, new.text);
END;
CREATE TRIGGER memories_fts_delete AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.seq, old.text);
END;
CREATE TRIGGER memories_fts_update AFTER UPDATE OF text ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, text) VALUES ('delete', old.seq, old.text);
    INSERT INTO memories_fts (rowid, text) VALUES (new.seq, new.text);
END;
"""

# Run rows repeat a handful of plugin, action, room and error names: they are stored once in
# ``names`` and referenced by id, which keeps the file small and reading a million runs fast.
_HISTORY = """
CREATE TABLE names (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id TEXT NOT NULL,
    started REAL NOT NULL,          -- epoch seconds
    ended REAL,                     -- NULL while running, or after a hard kill
    pid INTEGER NOT NULL,
    runs INTEGER NOT NULL DEFAULT 0,        -- run rows written so far
    last_run_id INTEGER NOT NULL DEFAULT 0  -- their largest run_id
);
CREATE TABLE runs (
    session_id INTEGER NOT NULL,
    run_id INTEGER NOT NULL,
    plugin_ref INTEGER NOT NULL,    -- names.id
    action_ref INTEGER NOT NULL,    -- names.id
    started_us INTEGER NOT NULL,    -- epoch microseconds (frames show microseconds)
    duration_ns INTEGER NOT NULL,   -- nanoseconds (the resolution of the clock measuring it)
    success INTEGER NOT NULL,
    error_ref INTEGER,              -- names.id of the error code, NULL on success
    room_ref INTEGER NOT NULL       -- names.id
);
CREATE TABLE errors (
    session_id INTEGER NOT NULL,
    timestamp REAL NOT NULL,        -- epoch seconds
    run_id INTEGER,
    plugin TEXT,
    action TEXT,
    code TEXT,
    error_type TEXT,
    message TEXT,                   -- secrets already masked
    traceback TEXT
);
CREATE VIEW run_log AS
SELECT r.session_id, r.run_id, p.name AS plugin, a.name AS action,
       strftime('%Y-%m-%d %H:%M:%f', r.started_us / 1e6, 'unixepoch') AS started_at,
       r.duration_ns / 1e6 AS duration_ms, r.success, e.name AS error_code, m.name AS room_id
FROM runs r
JOIN names p ON p.id = r.plugin_ref
JOIN names a ON a.id = r.action_ref
JOIN names m ON m.id = r.room_ref
LEFT JOIN names e ON e.id = r.error_ref;
"""


_SPANS = """
CREATE TABLE spans (
    session_id INTEGER NOT NULL,
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_id TEXT,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    started REAL NOT NULL,          -- epoch seconds
    duration_ms REAL NOT NULL,
    status TEXT NOT NULL,           -- ok | error
    error_code TEXT,
    attributes TEXT NOT NULL        -- JSON, secrets already masked
);
CREATE INDEX spans_trace ON spans (trace_id);
"""


def store_error(path: str, exc: BaseException, what: str = "use") -> StoreError:
    """A StoreError that says which file failed and what to do about it."""
    return StoreError(
        f"Cannot {what} {path!r} as an eliza_nb database: {exc}. Pass another file name, "
        "move the file aside, or use ':memory:'.",
        details={"path": path},
    )


def prepare(db: sqlite3.Connection, path: str) -> None:
    """Check a freshly opened database and bring its schema to ``SCHEMA_VERSION``.

    Raises:
        StoreError: not a SQLite file, corrupted, another application's database, or a newer
            schema than this eliza_nb knows.
    """
    try:
        _check(db, path)  # before anything is written, so a refused file stays untouched
        if path not in ("", ":memory:"):
            db.execute("PRAGMA journal_mode = WAL")
        db.execute("BEGIN IMMEDIATE")
        try:
            version = _check(db, path)  # again, now that no other writer can be upgrading it
            _upgrade(db, path, version)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    except sqlite3.DatabaseError as exc:
        raise store_error(path, exc, "open") from None


def _check(db: sqlite3.Connection, path: str) -> int:
    version = int(db.execute("PRAGMA user_version").fetchone()[0])
    app = int(db.execute("PRAGMA application_id").fetchone()[0])
    if app not in (0, APPLICATION_ID) or (version == 0 and _has_tables(db)):
        raise StoreError(
            f"{path!r} is a SQLite database of another application, not an eliza_nb one; "
            "pass another file name.",
            details={"path": path, "application_id": app},
        )
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path!r} was written by a newer eliza_nb (schema {version}; this version reads "
            f"up to {SCHEMA_VERSION}). Upgrade eliza_nb to open it; the file was not changed.",
            details={"path": path, "version": version, "supported": SCHEMA_VERSION},
        )
    return version


def _has_tables(db: sqlite3.Connection) -> bool:
    return int(db.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]) > 0


def _upgrade(db: sqlite3.Connection, path: str, version: int) -> None:
    if version == 0:
        _script(db, _MEMORIES + _HISTORY + _SPANS)
        return
    for step in range(version, SCHEMA_VERSION):
        _MIGRATIONS[step](db)
        log.info("upgraded %s from schema %d to %d", path, step, step + 1)


def _script(db: sqlite3.Connection, script: str) -> None:
    # executescript() would COMMIT the open transaction; run the statements one by one.
    statement = ""
    for line in script.splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            db.execute(statement)
            statement = ""


def _upgrade_1_to_2(db: sqlite3.Connection) -> None:
    db.execute("DROP INDEX IF EXISTS memories_room_time")
    db.execute("ALTER TABLE memories RENAME TO memories_v1")
    _script(db, _MEMORIES + _HISTORY)
    db.execute(
        "INSERT INTO memories (id, tbl, room_id, user_id, agent_id, created_us, text, action, "
        "content) SELECT id, tbl, room_id, user_id, agent_id, "
        "CAST(round(created_at * 1000000) AS INTEGER), text, action, content "
        "FROM memories_v1 ORDER BY created_at, rowid"
    )
    rows = db.execute("SELECT id, embedding FROM memories_v1 WHERE embedding IS NOT NULL")
    db.executemany(
        "UPDATE memories SET embedding = ? WHERE id = ?",
        [(embedding_to_blob(json.loads(vector)), mid) for mid, vector in rows.fetchall()],
    )
    db.execute("DROP TABLE memories_v1")


def _upgrade_2_to_3(db: sqlite3.Connection) -> None:
    _script(db, _SPANS)


_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: _upgrade_1_to_2,
    2: _upgrade_2_to_3,
}
