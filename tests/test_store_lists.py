"""One query, two sources: records in memory (``RecordLists``) answer every ``RecordQuery``
exactly as the SQLite store does for the same records."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from eliza_nb import ValidationError
from eliza_nb.store import SQLiteStore
from eliza_nb.store.base import ALL_RECORDS, RecordQuery, RecordSource
from eliza_nb.store.lists import RecordLists

T0 = 1_714_564_800.0  # 2024-05-01 12:00 UTC
# Times a hair either side of a microsecond and about half way: rounding decides (epoch floats
# near 1.7e9 s are 0.24 us apart, so both sources must round the very same way).
OFFSETS = (0.0, 0.0000004, 0.0000005, 0.0000006, 1.0, 2.0000015, 3.0)
RUNS = [
    (i + 1, "p", "ABC"[i % 3], T0 + dt, i * 0.5, i % 2 == 0, None if i % 2 == 0 else "E", "r")
    for i, dt in enumerate(OFFSETS)
]
ERRORS = [
    (T0 + dt, i + 1, "p", "ABC"[i % 3], "E", "X", f"m{i}", "") for i, dt in enumerate(OFFSETS)
]
ISO_1S = datetime.fromtimestamp(T0 + 1, UTC).isoformat()
QUERIES = [
    ALL_RECORDS,
    RecordQuery(action="B"),
    RecordQuery(action="none such"),
    RecordQuery(start=T0 + 0.0000005),
    RecordQuery(end=T0 + 0.0000005),
    RecordQuery(start=datetime.fromtimestamp(T0, UTC), end=ISO_1S),
    RecordQuery(start=ISO_1S, action="A"),
    RecordQuery(end=datetime(2024, 5, 1, 12, 0, 2, 2, tzinfo=UTC)),
    RecordQuery(session_id=1),
    RecordQuery(session_id=2),
    RecordQuery(action="C", start=T0, end=T0 + 2.5, session_id=1),
]


@pytest.fixture
def sources(tmp_path: Path) -> Iterator[tuple[RecordSource, RecordSource]]:
    """The same records in memory and in a file (session 1 of both)."""
    store = SQLiteStore(tmp_path / "a.db")
    session = store.open_session("agent")
    store.write_records(session, RUNS, ERRORS)
    yield RecordLists(RUNS, ERRORS, session), store
    store.close()


def as_lists(columns: dict[str, Any]) -> dict[str, list[Any]]:
    return {name: np.asarray(values).tolist() for name, values in columns.items()}


@pytest.mark.parametrize("query", QUERIES, ids=repr)
def test_memory_and_file_select_the_same_runs(
    sources: tuple[RecordSource, RecordSource], query: RecordQuery
) -> None:
    memory, file = sources
    assert as_lists(memory.run_columns(query)) == as_lists(file.run_columns(query))


@pytest.mark.parametrize("query", QUERIES, ids=repr)
def test_memory_and_file_select_the_same_errors(
    sources: tuple[RecordSource, RecordSource], query: RecordQuery
) -> None:
    memory, file = sources
    assert memory.error_rows(query) == file.error_rows(query)


def test_the_filters_select_what_the_query_says(
    sources: tuple[RecordSource, RecordSource],
) -> None:
    memory, _ = sources
    ids = {q: memory.run_columns(q)["run_id"].tolist() for q in QUERIES}
    assert ids[ALL_RECORDS] == [1, 2, 3, 4, 5, 6, 7]
    assert ids[RecordQuery(action="B")] == [2, 5]
    assert ids[RecordQuery(start=ISO_1S, action="A")] == [7]
    second = datetime(2024, 5, 1, 12, 0, 2, tzinfo=UTC)
    assert memory.run_columns(RecordQuery(end=second))["run_id"].tolist() == [1, 2, 3, 4, 5]
    assert ids[RecordQuery(session_id=2)] == []
    assert [row[-1] for row in memory.error_rows()] == [1] * len(ERRORS)


def test_a_query_checks_its_bounds_once_when_made() -> None:
    with pytest.raises(ValidationError, match="ISO 8601"):
        RecordQuery(start="yesterday")
    query = RecordQuery(session_id="3")  # type: ignore[arg-type]
    assert query.session_id == 3 and not query.timed
    assert ALL_RECORDS.where("t", "a = ?") == ("1", [])
    assert ALL_RECORDS.mask(np.zeros(2), np.zeros(2), np.zeros(2)) is None
    assert RecordQuery(start=0, end=1).lo_us == -0.5
