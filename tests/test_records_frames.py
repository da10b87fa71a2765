"""Run records and the frames built from them: fixed schemas, filters, the flusher's bookkeeping.

Nothing here is timed: the costs are in benchmarks/dispatch.py and benchmarks/store.py.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from eliza_nb import AgentRuntime, Plugin, StoreError, ValidationError, action, frames
from eliza_nb.record_limits import RecordLimits
from eliza_nb.records import MetricsRecorder, RunRow
from eliza_nb.settings import Masker
from eliza_nb.store import SQLiteStore
from eliza_nb.types import ErrorInfo

SPEC_METRICS = [
    "run_id",
    "plugin",
    "action",
    "started_at",
    "duration_ms",
    "success",
    "error_code",
    "room_id",
]
SPEC_ERRORS = [
    "timestamp",
    "run_id",
    "plugin",
    "action",
    "code",
    "error_type",
    "message",
    "traceback",
]
SPEC_MEMORIES = ["id", "created_at", "room_id", "user_id", "agent_id", "text", "action", "content"]
SPEC_SUMMARY = [
    "action",
    "runs",
    "successes",
    "failures",
    "success_rate",
    "mean_ms",
    "p50_ms",
    "p95_ms",
    "max_ms",
]
UTC_NS = "datetime64[ns, UTC]"
METRIC_DTYPES = [
    "int64",
    "object",
    "object",
    UTC_NS,
    "float64",
    "bool",
    "object",
    "object",
    "int64",
]
ERROR_DTYPES = [
    UTC_NS,
    "Int64",
    "object",
    "object",
    "object",
    "object",
    "object",
    "object",
    "int64",
]


@action(name="TICK", description="succeeds")
def tick(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    return "ok"


@action(name="BOOM", description="fails")
def boom(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    raise RuntimeError("no luck")


PLUGIN = Plugin(name="frames", actions=[tick, boom])


@pytest.fixture(params=["memory", "file"])
def any_rt(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[AgentRuntime]:
    """A runtime on an in-memory database and one on a file: frames must not differ."""
    database = ":memory:" if request.param == "memory" else tmp_path / "agent.db"
    rt = AgentRuntime(database=database, use_env=False)
    rt.run_sync(rt.register_plugin(PLUGIN))
    yield rt
    rt.close()


def dtypes(frame: pd.DataFrame) -> list[str]:
    return [str(t) for t in frame.dtypes]


def test_empty_frames_have_their_columns_and_dtypes(any_rt: AgentRuntime) -> None:
    metrics, errors = any_rt.metrics_frame(), any_rt.errors_frame()
    assert metrics.empty and list(metrics.columns) == [*SPEC_METRICS, "session_id"]
    assert dtypes(metrics) == METRIC_DTYPES
    assert errors.empty and list(errors.columns) == [*SPEC_ERRORS, "session_id"]
    assert dtypes(errors) == ERROR_DTYPES
    memories = any_rt.memories_frame()
    assert memories.empty and list(memories.columns) == [*SPEC_MEMORIES, "table"]
    summary = any_rt.metrics_summary()
    assert summary.empty and list(summary.columns)[: len(SPEC_SUMMARY)] == SPEC_SUMMARY
    assert list(summary.columns)[len(SPEC_SUMMARY) :] == ["min_ms", "total_ms"]


async def test_frames_with_rows_keep_the_same_schema(any_rt: AgentRuntime) -> None:
    await any_rt.execute_action("TICK", "hi", room_id="r1")
    await any_rt.execute_action("BOOM")
    await any_rt.messages.create_memory("hello", room_id="r1")
    metrics = any_rt.metrics_frame()
    assert dtypes(metrics) == METRIC_DTYPES
    assert metrics[["run_id", "action", "success", "error_code", "room_id"]].values.tolist() == [
        [1, "TICK", True, None, "r1"],
        [2, "BOOM", False, "HANDLER_ERROR", "default"],
    ]
    assert (metrics["session_id"] == any_rt.session_id).all()
    errors = any_rt.errors_frame()
    assert dtypes(errors) == ERROR_DTYPES
    assert errors[["run_id", "code", "error_type", "message"]].values.tolist() == [
        [2, "HANDLER_ERROR", "RuntimeError", "no luck"]
    ]
    memories = any_rt.memories_frame(room_id="r1")
    assert memories["text"].tolist() == ["hello"] and str(memories["created_at"].dtype) == UTC_NS
    assert memories["table"].tolist() == ["messages"]
    assert any_rt.memories_frame(table="notes").empty
    summary = any_rt.metrics_summary().set_index("action")
    assert summary.loc["BOOM", ["runs", "failures", "success_rate"]].tolist() == [1, 1, 0.0]
    assert summary.loc["TICK", "min_ms"] == summary.loc["TICK", "total_ms"] > 0


async def test_filters_by_action_time_and_session(any_rt: AgentRuntime) -> None:
    for name in ("TICK", "BOOM", "TICK"):
        await any_rt.execute_action(name)
    started = any_rt.metrics_frame()["started_at"]
    assert any_rt.metrics_frame(action="TICK")["run_id"].tolist() == [1, 3]
    later = any_rt.metrics_frame(start=started.iloc[1].to_pydatetime())
    assert later["run_id"].tolist() == [2, 3]
    iso_end = started.iloc[1].isoformat()
    assert any_rt.metrics_frame(end=iso_end)["run_id"].tolist() == [1, 2]
    assert any_rt.metrics_frame(start=time.time() + 60).empty
    assert len(any_rt.metrics_frame(session_id=any_rt.session_id)) == 3
    assert any_rt.metrics_frame(session_id=any_rt.session_id + 1).empty
    assert any_rt.errors_frame(session_id=any_rt.session_id + 1).empty
    assert any_rt.errors_frame(end=started.iloc[0].to_pydatetime()).empty
    assert any_rt.metrics_summary(session_id=any_rt.session_id)["runs"].sum() == 3


def test_bad_time_bounds_raise_validation_errors(any_rt: AgentRuntime) -> None:
    with pytest.raises(Exception, match="ISO 8601") as info:
        any_rt.metrics_frame(start="yesterday")
    assert getattr(info.value, "code", None) == "VALIDATION_ERROR"


def test_started_at_is_the_recorded_time_to_the_microsecond() -> None:
    moment = datetime(2024, 5, 1, 12, 0, 0, 123457, tzinfo=UTC)
    row = RunRow(7, "p", "A", moment.timestamp(), 1.5, True, None, "r")
    frame = frames.metrics_frame([row], session_id=3)
    assert frame["started_at"].iloc[0].to_pydatetime() == moment
    assert frame["session_id"].tolist() == [3]


def test_a_large_frame_is_built_column_by_column_faithfully() -> None:
    n, t0 = 100_000, 1_700_000_000.0
    runs = [
        (i, "p", "ABC"[i % 3], t0 + i, i / 7, i % 5 != 0, None if i % 5 else "E", f"r{i % 4}")
        for i in range(n)
    ]
    frame = frames.metrics_frame(runs)
    assert len(frame) == n and dtypes(frame) == METRIC_DTYPES
    for i in (0, 1, 4, 5, 77_777, n - 1):
        row = frame.iloc[i]
        picked = [row[c] for c in ("run_id", "action", "duration_ms", "success", "error_code")]
        assert [*picked, row["room_id"]] == [runs[i][k] for k in (0, 2, 4, 5, 6, 7)]
        assert row["started_at"].timestamp() == runs[i][3]


def test_error_rows_with_and_without_run_ids() -> None:
    rows = [
        (1.0, None, "p", "hook", "PLUGIN_ERROR", "E", "m", "tb"),
        (2.0, 5, "p", "A", "X", "E", "m", ""),
    ]
    frame = frames.errors_frame(rows)
    assert frame["run_id"].tolist() == [pd.NA, 5]
    assert str(frame["run_id"].dtype) == "Int64"


# -- the recorder and its flusher ----------------------------------------------------------------
def run_row(i: int) -> tuple[Any, ...]:
    return (i, "p", "A", time.time(), 1.0, True, None, "r")


def stored_runs(path: Path) -> list[tuple[int, int]]:
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT session_id, run_id FROM runs ORDER BY rowid").fetchall()
    finally:
        db.close()


def test_flush_writes_each_record_once_and_close_ends_the_session(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    store = SQLiteStore(path)
    rec = MetricsRecorder()
    session = rec.attach(store, "agent", interval=3600)  # only explicit flushes in this test
    rec.runs.extend(run_row(i) for i in (1, 2))
    assert rec.flush() == 2
    assert rec.flush() == 0
    rec.runs.append(run_row(3))
    rec.errors.append((time.time(), 3, "p", "A", "X", "E", "msg", "tb"))
    assert rec.flush() == 2
    assert stored_runs(path) == [(session, 1), (session, 2), (session, 3)]
    rec.runs.append(run_row(4))
    rec.close()
    rec.close()  # idempotent
    assert rec.sink is None and rec.flush() == 0
    assert stored_runs(path)[-1] == (session, 4)
    assert store.error_rows()[0][:3] == (store.error_rows()[0][0], 3, "p")
    store.close()


def test_clear_keeps_what_the_store_holds(tmp_path: Path) -> None:
    rt = AgentRuntime(database=tmp_path / "agent.db", use_env=False)
    rt.run_sync(rt.register_plugin(PLUGIN))
    rt.run("TICK")
    rt.run("TICK")
    rt.metrics.clear()
    assert rt.metrics.runs == [] and len(rt.metrics_frame()) == 2
    rt.run("TICK")
    assert rt.metrics_frame()["run_id"].tolist() == [1, 2, 3]
    rt.close()


def test_a_locked_file_keeps_records_pending_until_it_can_write(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    store = SQLiteStore(path, timeout=0.01)
    rec = MetricsRecorder()
    session = rec.attach(store, "agent", interval=3600)
    rec.runs.extend(run_row(i) for i in (1, 2, 3))
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another writer holds the file
    with pytest.raises(StoreError, match="locked"):
        rec.flush()
    other.execute("ROLLBACK")
    other.close()
    assert rec.flush() == 3
    assert stored_runs(path) == [(session, 1), (session, 2), (session, 3)]
    rec.close()
    store.close()


def test_without_a_file_records_stay_in_memory() -> None:
    rec = MetricsRecorder()
    assert rec.attach(SQLiteStore(":memory:"), "agent") == 1
    assert rec.sink is None
    assert rec.attach(object(), "agent") == 1  # not a RecordStore: nothing changes
    rec.runs.append(run_row(1))
    assert rec.flush() == 0 and len(rec.runs) == 1


def test_records_appended_by_other_code_go_to_the_store(tmp_path: Path) -> None:
    rt = AgentRuntime(database=tmp_path / "agent.db", use_env=False)
    now = time.time()
    rt.metrics.runs.append((99, "ext", "IMPORTED", now, 2.0, True, None, "r"))
    rt.metrics.runs.append((100, "ext", "SHORT"))  # malformed: dropped, never shifts columns
    rt.metrics.runs.append((101, "ext", "UNTIMED", None, None, None, None, "r"))
    rt.metrics.runs.append((102, None, ["ODD"], now, 1.0, True, "", 42))  # odd names: as text
    frame = rt.metrics_frame()
    assert frame["action"].tolist() == ["IMPORTED", "UNTIMED", "['ODD']"]
    assert frame["run_id"].tolist() == [99, 101, 102]
    assert frame[["plugin", "error_code", "room_id"]].values.tolist()[2] == [None, "", "42"]
    rt.close()


def test_run_ids_too_large_to_pack_come_back_exactly(tmp_path: Path) -> None:
    rt = AgentRuntime(database=tmp_path / "agent.db", use_env=False)
    big = 2**55 + 3  # leaves no room for the packed layout: the plain read path is used
    rt.metrics.runs.append((big, "p", "A", time.time(), 1.25, False, "E", "r"))
    frame = rt.metrics_frame()
    assert frame[["run_id", "duration_ms", "success", "error_code"]].values.tolist() == [
        [big, 1.25, False, "E"]
    ]
    rt.close()


def test_metrics_summary_accepts_rows_or_a_frame() -> None:
    rows = [
        RunRow(i, "p", "A", 0.0, float(i), i != 2, None if i != 2 else "X", "r") for i in (1, 2, 3)
    ]
    by_rows = frames.metrics_summary(rows)
    by_frame = frames.metrics_summary(frames.metrics_frame(rows))
    pd.testing.assert_frame_equal(by_rows, by_frame)
    assert by_rows[["runs", "failures", "min_ms", "max_ms", "total_ms"]].values.tolist() == [
        [3, 1, 1.0, 3.0, 6.0]
    ]


def test_time_bounds_accept_epoch_naive_and_aware_datetimes(any_rt: AgentRuntime) -> None:
    any_rt.run("TICK")
    started = any_rt.metrics_frame()["started_at"].iloc[0].to_pydatetime()
    naive = started.replace(tzinfo=None)
    assert len(any_rt.metrics_frame(start=naive)) == 1
    assert len(any_rt.metrics_frame(start=started.timestamp() - 1)) == 1
    assert any_rt.metrics_frame(end=started - timedelta(seconds=1)).empty


# -- the file writer survives any record and any failure ------------------------------------------
UNDECODABLE = b"r\xff".decode("utf-8", "surrogateescape")  # what os.listdir gives for such a name


@pytest.fixture
def file_rec(tmp_path: Path) -> Iterator[tuple[MetricsRecorder, SQLiteStore]]:
    """A recorder attached to a file database, flushed only when a test asks."""
    store = SQLiteStore(tmp_path / "a.db")
    rec = MetricsRecorder(Masker())
    rec.attach(store, "agent", interval=3600)
    yield rec, store
    rec.close()
    store.close()


def fail_writes(
    monkeypatch: pytest.MonkeyPatch, store: SQLiteStore, error: Exception, times: int
) -> list[int]:
    """Make the store's next ``times`` writes raise ``error``; returns the list of call sizes."""
    real, calls = store.write_records, []

    def write_records(session_id: int, runs: Any, errors: Any) -> None:
        calls.append(len(runs) + len(errors))
        if len(calls) <= times:
            raise error
        real(session_id, runs, errors)

    monkeypatch.setattr(store, "write_records", write_records)
    return calls


def broken(*args: Any) -> None:
    raise RuntimeError("broken")


@pytest.mark.parametrize("by", ["failure", "other code"])
def test_an_undecodable_error_message_never_stops_the_file_writer(tmp_path: Path, by: str) -> None:
    path = tmp_path / "a.db"
    store = SQLiteStore(path)
    rec = MetricsRecorder(Masker())
    rec.attach(store, "agent")  # the real flusher thread, at its real interval
    message = str(FileNotFoundError(UNDECODABLE))
    run_id = rec.new_run_id()
    rec.run(run_id, "p", "A", time.time(), 1.0, "r", code="HANDLER_ERROR")
    if by == "failure":
        rec.failure(run_id, "p", "A", ErrorInfo(code="HANDLER_ERROR", message=message))
    else:  # appended as they are: the store's write path must cope on its own
        rec.errors.append((time.time(), run_id, "p", "A", "E", "FileNotFoundError", message, ""))
    for _ in range(50):
        rec.run(rec.new_run_id(), "p", "A", time.time(), 1.0, "r")
    rec.flush()
    assert rec.write_error is None
    rec.close()
    store.close()
    reread = SQLiteStore(path)
    assert reread.run_columns()["run_id"].tolist() == list(range(1, 52))
    assert [row[6] for row in reread.error_rows()] == ["r\ufffd"]
    reread.close()


def test_a_failed_write_stays_pending_is_logged_once_and_retried(
    file_rec: tuple[MetricsRecorder, SQLiteStore],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec, store = file_rec
    calls = fail_writes(monkeypatch, store, OSError("disk full"), times=2)
    rec.runs.extend(run_row(i) for i in (1, 2))
    with caplog.at_level(logging.WARNING, logger="eliza_nb.records"):
        for _ in range(2):  # the same failure twice: one warning
            with pytest.raises(
                StoreError, match=r"could not write run records .*OSError: disk full"
            ):
                rec.flush()
        assert rec.write_error is not None and "disk full" in rec.write_error
        assert "write_error=" in repr(rec)
        rec.runs.append(run_row(3))
        assert rec.flush() == 3  # the pending records and the new one
    assert calls == [2, 2, 3]
    warnings = [r for r in caplog.records if r.name == "eliza_nb.records"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert rec.write_error is None and "write_error" not in repr(rec)
    assert store.run_columns()["run_id"].tolist() == [1, 2, 3]


def test_the_flusher_thread_keeps_retrying_after_any_failure(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "a.db")
    real, written = store.write_records, threading.Event()
    failures = iter([UnicodeEncodeError("utf-8", "x", 0, 1, "boom"), sqlite3.OperationalError()])

    def write_records(session_id: int, runs: Any, errors: Any) -> None:
        failure = next(failures, None)
        if failure is not None:
            raise failure
        real(session_id, runs, errors)
        written.set()

    store.write_records = write_records  # type: ignore[method-assign]
    rec = MetricsRecorder()
    rec.attach(store, "agent", interval=0.01)
    rec.runs.append(run_row(1))
    assert written.wait(10), "the flusher stopped after a failed write"
    assert rec.write_error is None
    rec.close()
    assert store.run_columns()["run_id"].tolist() == [1]
    store.close()


def test_close_and_clear_never_raise_when_the_store_always_fails(
    file_rec: tuple[MetricsRecorder, SQLiteStore],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    rec, store = file_rec
    fail_writes(monkeypatch, store, RuntimeError("broken"), times=10**9)
    monkeypatch.setattr(store, "close_session", broken)
    rec.runs.append(run_row(1))
    with caplog.at_level(logging.WARNING, logger="eliza_nb.records"):
        rec.clear()
        rec.runs.append(run_row(2))
        rec.close()
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 3, errors  # clear(), close(), and the session that could not end
    assert (
        "clear(): 1 runs, 0 errors and 0 spans" in errors[0] and "RuntimeError: broken" in errors[0]
    )
    assert rec.sink is None and rec.write_error is not None


# -- bounded memory: RECORDS_IN_MEMORY with a file, MAX_RECORDS without -------------------------
def bounded_rt(database: Any, **settings: int) -> AgentRuntime:
    rt = AgentRuntime(database=database, settings=settings, use_env=False)
    rt.run_sync(rt.register_plugin(PLUGIN))
    return rt


async def test_a_file_store_keeps_a_window_in_memory_and_every_run_in_the_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "agent.db"
    rt = bounded_rt(path, RECORDS_IN_MEMORY=10)
    for i in range(100):
        await rt.execute_action("BOOM" if i % 10 == 0 else "TICK")
        if i % 7 == 0:
            rt.metrics.flush()  # trims between runs: the offsets of what is written must follow
    assert rt.metrics_frame()["run_id"].tolist() == list(range(1, 101))
    assert len(rt.metrics.runs) <= 11 and len(rt.metrics.errors) <= 1  # errors: a tenth
    assert [r[1] for r in stored_runs(path)] == list(range(1, 101))  # each written once
    assert len(rt.errors_frame()) == 10 and "dropped" not in rt.metrics_frame().attrs
    assert (rt.metrics.run_count, rt.metrics.error_count) == (100, 10)
    assert "runs=100, errors=10" in repr(rt)
    counts = rt.snapshot()["metrics"]
    assert counts["TICK"]["runs"] == 90
    assert counts["BOOM"] == {"runs": 10, "successes": 0, "error_codes": {"HANDLER_ERROR": 10}}
    rt.close()
    assert [r[1] for r in stored_runs(path)] == list(range(1, 101))


async def test_without_a_file_the_cap_drops_the_oldest_and_the_frames_say_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rt = bounded_rt(":memory:", MAX_RECORDS=100)  # and 10 errors
    with caplog.at_level(logging.WARNING, logger="eliza_nb.records"):
        for i in range(300):
            await rt.execute_action("BOOM" if i % 2 else "TICK")
    frame = rt.metrics_frame()
    assert frame["run_id"].tolist() == list(range(301 - len(frame), 301))  # the newest
    assert 100 <= len(frame) <= 110 and frame.attrs["dropped"] == 300 - len(frame)
    errors = rt.errors_frame()
    assert 10 <= len(errors) <= 11 and errors.attrs["dropped"] == 150 - len(errors)
    assert errors["run_id"].iloc[-1] == 300
    assert rt.metrics_summary().attrs["dropped"] == frame.attrs["dropped"]
    warnings = [r.getMessage() for r in caplog.records if r.name == "eliza_nb.records"]
    assert len(warnings) == 1 and "MAX_RECORDS=100" in warnings[0]  # once, not per drop
    assert rt.snapshot()["metrics"]["TICK"] == {"runs": 150, "successes": 150, "error_codes": {}}
    assert "runs=300, errors=150" in repr(rt) and "dropped=" in repr(rt.metrics)
    assert "300 (150 failed)" in rt._repr_html_()
    rt.close()


def test_custom_metrics_are_capped_and_counters_keep_their_totals() -> None:
    rt = bounded_rt(":memory:", MAX_RECORDS=10)
    for _ in range(50):
        rt.metrics.increment("hits")
    rt.metrics.record("tokens", 3)
    frame = rt.custom_metrics_frame()
    assert len(frame) <= 11 and frame.attrs["dropped"] == 51 - len(frame)
    assert frame["name"].iloc[-1] == "tokens"
    assert rt.metrics.counters() == {"hits": 50.0}
    rt.metrics.clear()
    assert rt.metrics.counters() == {} and "dropped" not in rt.custom_metrics_frame().attrs
    rt.close()


@pytest.mark.parametrize(
    ("call", "field", "text"),
    [
        (lambda m: m.record("n", "abc"), "value", "metrics.record('n'): value must be a number"),
        (lambda m: m.record(3, 1.0), "name", "metrics.record: the metric name must be a string"),
        (lambda m: m.increment("n", None), "n", "metrics.increment('n'): n must be a number"),
        (lambda m: m.increment("n", True), "n", "got bool"),
    ],
)
def test_custom_metrics_refuse_what_is_not_a_name_and_a_number(
    call: Any, field: str, text: str
) -> None:
    rec = MetricsRecorder()
    with pytest.raises(ValidationError) as info:
        call(rec)
    assert info.value.field == field and text in info.value.message
    assert "\n" not in str(info.value) and rec.custom == []


def test_unusable_limits_are_logged_and_the_defaults_used(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="eliza_nb.records"):
        rt = AgentRuntime(settings={"MAX_RECORDS": "lots", "RECORDS_IN_MEMORY": -1}, use_env=False)
    assert rt.metrics.limits == RecordLimits()
    assert len([r for r in caplog.records if "is not a whole number" in r.getMessage()]) == 2
    rt.close()
    rt = AgentRuntime(settings={"MAX_RECORDS": "500", "RECORDS_IN_MEMORY": 900}, use_env=False)
    assert rt.metrics.limits == RecordLimits(in_memory=500, max_records=500)
    rt.close()


def test_records_a_failing_file_cannot_take_are_dropped_past_the_cap_and_counted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = SQLiteStore(tmp_path / "a.db")
    rec = MetricsRecorder(limits=RecordLimits(in_memory=5, max_records=10))
    rec.attach(store, "agent", interval=3600)
    fail_writes(monkeypatch, store, OSError("disk full"), times=10**9)
    with caplog.at_level(logging.WARNING, logger="eliza_nb.records"):
        for _ in range(30):
            rec.run(rec.new_run_id(), "p", "A", time.time(), 1.0, "r")
    assert len(rec.runs) <= 11 and rec.lost.runs == 30 - len(rec.runs) == rec.dropped.runs
    assert any("could not be written" in r.getMessage() for r in caplog.records)
    monkeypatch.undo()
    held = len(rec.runs)
    assert rec.flush() == held  # what is still held is written, once
    assert store.run_columns()["run_id"].tolist() == list(range(31 - held, 31))
    assert len(rec.runs) == 5 and rec.lost.runs == 30 - held  # the window: the file has them
    rec.close()
    store.close()
