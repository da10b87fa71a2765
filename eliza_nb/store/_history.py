"""Run history in SQLite: sessions, run and error records, and reading them back fast.

Writing: names (plugin, action, error code, room) are swapped for ``names`` ids from a cache
in Python, and a batch is bound into a few multi-row ``INSERT`` statements (one
``sqlite3_step`` per 2048 rows, so a background flusher does not wait for the GIL on every
row), all in one transaction. Text UTF-8 cannot encode (a lone surrogate, as in an undecodable
file name) is made safe on the way in (``records.safe_text``): no record can fail a batch.

Reading: a :class:`~eliza_nb.store.base.RecordQuery` becomes the WHERE clause (``where()``).
Fetching a million rows as Python tuples costs more than a second, so nothing is fetched row
by row. Every run column is an integer (times in microseconds, durations in
nanoseconds, names as ``names`` ids); SQL packs the small ones (run id, session, name ids,
success) into one integer and ``group_concat`` turns each column into one text that numpy
parses in C: three strings cross into Python per million runs.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

from eliza_nb import records
from eliza_nb.store.base import ALL_RECORDS, RecordQuery
from eliza_nb.tracing import SPAN_COLUMNS, attributes_json

__all__ = ["RUN_FIELDS", "STAGE_SQL", "HistoryMixin", "insert_flat", "well_formed"]

log = logging.getLogger("eliza_nb.store")

# The stored columns are the record tuples' fields, in their order.
RUN_FIELDS = records.RUN_COLUMNS
ERROR_FIELDS = records.ERROR_COLUMNS
SPAN_FIELDS = SPAN_COLUMNS
_SPAN_INSERT = (
    f"INSERT INTO spans (session_id, {', '.join(SPAN_FIELDS)}) "
    f"VALUES ({', '.join('?' * (len(SPAN_FIELDS) + 1))})"
)
_CHUNK = 2048  # rows per INSERT: 8 x 2048 parameters stay under SQLite's default limit of 32766

STAGE_SQL = f"""
CREATE TEMP TABLE IF NOT EXISTS error_stage ({", ".join(ERROR_FIELDS)});
"""
_NAME_FIELDS = (1, 2, 6, 7)  # plugin, action, error_code, room_id: stored as ``names`` ids
# One run as bound: its record's values, names already swapped for ids (0: none).
_MICROS = "CAST(round(coalesce(?, 0.0) * 1000000) AS INTEGER)"  # s -> us, and ms -> ns
_RUN_ROW = (
    f"({{session}}, coalesce(?, 0), ?, ?, {_MICROS}, {_MICROS}, coalesce(?, 0), nullif(?, 0), ?)"
)
_RUN_INSERT = (
    "INSERT INTO runs (session_id, run_id, plugin_ref, action_ref, started_us, "
    "duration_ns, success, error_ref, room_ref)"
)
_COUNT_RUNS = (
    "UPDATE sessions SET runs = runs + ?, last_run_id = max(last_run_id, "
    "coalesce((SELECT max(run_id) FROM runs WHERE rowid > ?), 0)) WHERE id = ?"
)
_ERRORS_FROM_STAGE = (
    "INSERT INTO errors SELECT ?, coalesce(timestamp, 0.0), run_id, plugin, "
    "action, code, error_type, message, traceback FROM temp.error_stage "
    "ORDER BY rowid"
)
_AS_INT = {True: 1, False: 0}
_RUN_ACTION_IS = "action_ref = (SELECT id FROM names WHERE name = ?)"


@functools.lru_cache(maxsize=64)
def _values_sql(head: str, row: str, rows: int) -> str:
    return f"{head} VALUES " + ", ".join([row] * rows)


def insert_flat(db: sqlite3.Connection, head: str, row: str, width: int, flat: list[Any]) -> None:
    """Insert rows given as one flat list of ``width`` values each, in few statements.

    One statement binds up to 2048 rows, so a background flusher steps into SQLite (and lets
    go of the GIL) once per 2048 rows, not once per row.
    """
    total, done, size = len(flat) // width, 0, _CHUNK
    while done < total:
        while total - done < size:  # powers of two: a handful of cached statements
            size //= 2
        db.execute(_values_sql(head, row, size), flat[done * width : (done + size) * width])
        done += size


def well_formed(rows: Sequence[Sequence[Any]], width: int) -> Sequence[Sequence[Any]]:
    """``rows`` without records of another length (logged): they would shift every column."""
    try:
        if sum(map(len, rows)) == width * len(rows):
            return rows
    except TypeError:  # not even a sequence
        pass
    good = [r for r in rows if isinstance(r, tuple | list) and len(r) == width]
    log.error(
        "dropping %d malformed records (expected tuples of %d values)", len(rows) - len(good), width
    )
    return good


class HistoryMixin:
    """The ``RecordStore`` half of ``SQLiteStore`` (sessions, runs, errors), a ``RecordSource``."""

    path: str
    _lock: threading.RLock
    _name_ids: dict[Any, int]  # names already in ``names`` (None: 0), filled as runs are written

    if TYPE_CHECKING:

        def _using(self) -> AbstractContextManager[sqlite3.Connection]: ...

        def _transaction(self) -> AbstractContextManager[sqlite3.Connection]: ...

    def open_session(self, agent_id: str) -> int:
        """Start a session (one per runtime start) and return its id."""
        with self._using() as db:
            cur = db.execute(
                "INSERT INTO sessions (agent_id, started, pid) VALUES (?, ?, ?)",
                (records.safe_text(str(agent_id)), time.time(), os.getpid()),
            )
            return int(cur.lastrowid or 0)

    def close_session(self, session_id: int) -> None:
        """Record when a session ended (a session killed hard keeps ``ended`` NULL)."""
        with self._using() as db:
            db.execute("UPDATE sessions SET ended = ? WHERE id = ?", (time.time(), session_id))

    def write_records(
        self,
        session_id: int,
        runs: Sequence[Sequence[Any]],
        errors: Sequence[Sequence[Any]],
        spans: Sequence[Sequence[Any]] = (),
    ) -> None:
        """Append run, error and span records of a session in one transaction.

        Raises:
            StoreError: the database cannot be written (nothing of the batch is kept).
        """
        runs = well_formed(runs, len(RUN_FIELDS))
        errors = well_formed(errors, len(ERROR_FIELDS))
        spans = well_formed(spans, len(SPAN_FIELDS))
        if not runs and not errors and not spans:
            return
        names = self._name_ids
        with self._transaction() as db:
            if runs:
                names = self._write_runs(db, int(session_id), runs)
            if errors:
                flat = list(map(_safe, itertools.chain.from_iterable(errors)))
                marks = f"({', '.join('?' * len(ERROR_FIELDS))})"
                insert_flat(db, "INSERT INTO temp.error_stage", marks, len(ERROR_FIELDS), flat)
                db.execute(_ERRORS_FROM_STAGE, (session_id,))
                db.execute("DELETE FROM temp.error_stage")
            if spans:
                rows = [(session_id, *map(_safe, _stored_span(span))) for span in spans]
                db.executemany(_SPAN_INSERT, rows)
        self._name_ids = names  # only now: a rolled-back name id must not be remembered

    def _write_runs(
        self, db: sqlite3.Connection, session_id: int, runs: Sequence[Sequence[Any]]
    ) -> dict[Any, int]:
        width = len(RUN_FIELDS)
        flat = list(itertools.chain.from_iterable(runs))
        names = _encode_names(db, flat, dict(self._name_ids))
        # sqlite3 binds an exact int, float or str in tens of nanoseconds but sends a bool (or
        # None) through its adapter registry, ~300 ns each: success goes in as an int.
        success = flat[5::width]
        flat[5::width] = list(map(_AS_INT.get, success, success))
        before = db.execute("SELECT coalesce(max(rowid), 0) FROM runs").fetchone()[0]
        insert_flat(db, _RUN_INSERT, _RUN_ROW.format(session=session_id), width, flat)
        db.execute(_COUNT_RUNS, (len(runs), before, session_id))
        return names

    def run_columns(self, query: RecordQuery = ALL_RECORDS) -> dict[str, Any]:
        """The stored runs ``query`` selects as numpy columns (``started_us`` in epoch
        microseconds), oldest first."""
        where, params = query.where("started_us", _RUN_ACTION_IS)
        with self._using() as db:
            names = db.execute("SELECT id, name FROM names").fetchall()
            widths = db.execute(
                "SELECT coalesce(max(id), 0), coalesce(max(last_run_id), 0) FROM sessions"
            ).fetchone()
            layout = _layout(max((i for i, _ in names), default=0), *widths)
            sql = _concat_sql(_packed_columns(layout) if layout else _PLAIN_COLUMNS, where)
            top = db.execute("SELECT coalesce(max(rowid), 0) FROM runs").fetchone()[0]
            texts = [
                db.execute(sql, [low, low + _WINDOW, *params]).fetchone()
                for low in range(0, top, _WINDOW)
            ]
        columns = (
            [_parse_ints(part[k] for part in texts) for k in range(len(texts[0]))] if texts else []
        )
        if layout:
            return _unpack(columns, names, layout)
        return _unpack_plain(columns, names)

    def error_rows(self, query: RecordQuery = ALL_RECORDS) -> list[tuple[Any, ...]]:
        """The stored errors ``query`` selects: ``ErrorRow`` fields plus the session id, oldest
        first."""
        where, params = query.where("timestamp * 1000000", "action = ?")
        sql = f"SELECT {', '.join(ERROR_FIELDS)}, session_id FROM errors WHERE {where}"
        with self._using() as db:
            return db.execute(f"{sql} ORDER BY rowid", params).fetchall()

    def span_rows(
        self, trace_id: str | None = None, last: int | None = None
    ) -> list[tuple[Any, ...]]:
        """Stored spans, oldest first: of one trace, of the ``last`` traces, or all."""
        fields = ", ".join(SPAN_FIELDS)
        with self._using() as db:
            if trace_id is not None:
                sql = f"SELECT {fields} FROM spans WHERE trace_id = ? ORDER BY rowid"
                return db.execute(sql, (trace_id,)).fetchall()
            if last is not None:
                sql = (
                    f"SELECT {fields} FROM spans WHERE trace_id IN (SELECT trace_id FROM spans "
                    "WHERE parent_id IS NULL ORDER BY rowid DESC LIMIT ?) ORDER BY rowid"
                )
                return db.execute(sql, (last,)).fetchall()
            return db.execute(f"SELECT {fields} FROM spans ORDER BY rowid").fetchall()


def _stored_span(span: Sequence[Any]) -> Sequence[Any]:
    """A span as stored: its attributes as JSON text."""
    *head, attributes = span
    return (*head, attributes_json(attributes))


def _encode_names(db: sqlite3.Connection, flat: list[Any], known: dict[Any, int]) -> dict[Any, int]:
    """Swap the name fields of flat run records for ``names`` ids, in place; returns ``known``
    with the names this batch added."""
    width = len(RUN_FIELDS)
    for field in _NAME_FIELDS:
        values = flat[field::width]
        try:
            missing = set(values).difference(known)
        except TypeError:  # an unhashable value where a name belongs: store its text
            values = [None if v is None else str(v) for v in values]
            missing = set(values).difference(known)
        for name in missing:
            stored = _safe(name)  # two names that differ only in lone surrogates share an id
            db.execute("INSERT OR IGNORE INTO names (name) VALUES (?)", (stored,))
            known[name] = db.execute("SELECT id FROM names WHERE name = ?", (stored,)).fetchone()[0]
        flat[field::width] = list(map(known.__getitem__, values))
    return known


def _safe(value: Any) -> Any:
    """A value to bind: text made encodable (a lone surrogate would fail the whole batch)."""
    return records.safe_text(value) if isinstance(value, str) else value


# Packed layout, low bits first: success (1), plugin, action, error code, room (``bits`` each),
# session, run id. None when the values are too large to share 63 bits.
_Layout = tuple[int, int, int]  # (name bits, session bits, run id bits)
_WINDOW = 1 << 20  # rows per query: each concatenated text stays far below SQLite's 1 GB limit
_PLAIN_COLUMNS = (
    "run_id",
    "started_us",
    "duration_ns",
    "success != 0",
    "session_id",
    "plugin_ref",
    "action_ref",
    "coalesce(error_ref, 0)",
    "room_ref",
)


def _layout(top_name: int, top_session: int, top_run: int) -> _Layout | None:
    bits, session_bits = max(top_name.bit_length(), 1), max(top_session.bit_length(), 1)
    run_bits = max(top_run.bit_length(), 1)
    fits = top_run >= 0 and 1 + 4 * bits + session_bits + run_bits <= 63
    return (bits, session_bits, run_bits) if fits else None


def _packed_columns(layout: _Layout) -> tuple[str, ...]:
    bits, session_bits, _ = layout
    packed = f"(run_id << {session_bits} | session_id)"
    for column in ("room_ref", "coalesce(error_ref, 0)", "action_ref", "plugin_ref"):
        packed = f"({packed} << {bits} | {column})"
    return (f"{packed} << 1 | (success != 0)", "started_us", "duration_ns")


def _concat_sql(columns: Sequence[str], where: str) -> str:
    """One query: each column of a rowid window as one comma-separated text, in rowid order."""
    inner = ", ".join(f"{c} AS c{i}" for i, c in enumerate(columns))
    outer = ", ".join(f"group_concat(c{i})" for i in range(len(columns)))
    return (
        f"SELECT {outer} FROM (SELECT {inner} FROM runs WHERE rowid > ? AND rowid <= ? "
        f"AND {where} ORDER BY rowid)"
    )


def _parse_ints(texts: Iterable[str | None]) -> Any:
    import numpy as np

    parts = [np.fromstring(t, dtype=np.int64, sep=",") for t in texts if t]
    return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)


def _lookup(names: list[tuple[int, str]]) -> Any:
    import numpy as np

    table = np.full(max((i for i, _ in names), default=0) + 1, None, dtype=object)
    for ident, name in names:
        table[ident] = name
    return table  # id 0 (no error code) stays None


def _unpack(columns: list[Any], names: list[tuple[int, str]], layout: _Layout) -> dict[str, Any]:
    bits, session_bits, _ = layout
    table, mask = _lookup(names), (1 << bits) - 1
    packed, started_us, duration_ns = columns or [_parse_ints([])] * 3
    codes = [(packed >> (1 + k * bits)) & mask for k in range(4)]
    rest = packed >> (1 + 4 * bits)
    return {
        "run_id": rest >> session_bits,
        "plugin": table[codes[0]],
        "action": table[codes[1]],
        "started_us": started_us,
        "duration_ms": duration_ns / 1e6,
        "success": (packed & 1).astype(bool),
        "error_code": table[codes[2]],
        "room_id": table[codes[3]],
        "session_id": rest & ((1 << session_bits) - 1),
    }


def _unpack_plain(columns: list[Any], names: list[tuple[int, str]]) -> dict[str, Any]:
    table = _lookup(names)
    run_id, started_us, duration_ns, success, session, plugin, action, error, room = columns or [
        _parse_ints([])
    ] * len(_PLAIN_COLUMNS)
    return {
        "run_id": run_id,
        "plugin": table[plugin],
        "action": table[action],
        "started_us": started_us,
        "duration_ms": duration_ns / 1e6,
        "success": success.astype(bool),
        "error_code": table[error],
        "room_id": table[room],
        "session_id": session,
    }
