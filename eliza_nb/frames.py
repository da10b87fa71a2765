"""Records and memories as pandas DataFrames with fixed column orders and dtypes.

This module owns the frames' schemas (column names, order, dtypes) and nothing about where
records live or how they are filtered. pandas is imported on first use so that importing
eliza_nb (and the hot path) never pays for it. Every function returns an empty frame with the
same columns and dtypes when there is no data.

Frames are built column-wise: each column is pulled out of the record tuples by one C-level
pass (``store.lists.column``) or comes as a numpy array from a store, and is wrapped without a
copy; strings stay ``object`` columns. A million run records become a frame in a fraction of a
second.

The ``*_history`` functions are what ``runtime.metrics_frame()`` and friends call: they make a
``RecordQuery`` of their filters and read it from ``recorder.history()``, the one code path for
a file store (every session) and for this session's records in memory. When records of this
session were dropped for good (``MAX_RECORDS`` without a file), their frames say how many in
``frame.attrs["dropped"]`` (absent when none were).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from eliza_nb import records
from eliza_nb.store.base import RecordQuery, TimeBound
from eliza_nb.store.lists import RecordLists, column, rounded_epoch_us

if TYPE_CHECKING:
    import pandas as pd

    from eliza_nb.records import MetricsRecorder

__all__ = [
    "COMPONENT_COLUMNS",
    "COMPONENT_KIND_COLUMNS",
    "CUSTOM_COLUMNS",
    "ERROR_COLUMNS",
    "MEMORY_COLUMNS",
    "METRIC_COLUMNS",
    "SUMMARY_COLUMNS",
    "components_frame",
    "custom_history",
    "custom_metrics_frame",
    "error_history",
    "errors_frame",
    "memories_frame",
    "metrics_frame",
    "metrics_frame_from_columns",
    "metrics_summary",
    "run_history",
    "summary_history",
]

# SPEC §3 columns first, in their order; eliza_nb's own columns after them.
METRIC_COLUMNS = (
    "run_id",
    "plugin",
    "action",
    "started_at",
    "duration_ms",
    "success",
    "error_code",
    "room_id",
    "session_id",
)
ERROR_COLUMNS = (*records.ERROR_COLUMNS, "session_id")
MEMORY_COLUMNS = (
    "id",
    "created_at",
    "room_id",
    "user_id",
    "agent_id",
    "text",
    "action",
    "content",
    "table",  # which MemoryManager wrote it: "messages", "notes", ...
)
COMPONENT_COLUMNS = (
    "plugin",
    "kind",
    "name",
    "description",
    "similes",  # a list ([] for the kinds without similes)
    "parameters",  # an action's describe_parameters ("" when untyped)
    "position",  # a provider's composition order
    "dynamic",  # a provider's flags
    "private",
)
#: The columns one kind of part fills; the other kinds hold nulls there (None, <NA>).
COMPONENT_KIND_COLUMNS = {"action": ("parameters",), "provider": ("position", "dynamic", "private")}
SUMMARY_COLUMNS = (
    "action",
    "runs",
    "successes",
    "failures",
    "success_rate",
    "mean_ms",
    "p50_ms",
    "p95_ms",
    "max_ms",
    "min_ms",
    "total_ms",
)
CUSTOM_COLUMNS = ("timestamp", "name", "kind", "value")

# Column kinds: int -> int64, float -> float64, bool -> bool, str -> object,
# time -> datetime64[ns, UTC] (from epoch seconds), Int64 -> nullable integer,
# boolean -> nullable boolean (None is <NA> in both).
_RUN_KINDS = ("int", "str", "str", "time", "float", "bool", "str", "str", "int")
_ERROR_KINDS = ("time", "Int64", "str", "str", "str", "str", "str", "str", "int")
_MEMORY_KINDS = ("str", "time", "str", "str", "str", "str", "str", "str", "str")
_MEMORY_PICK = (0, 5, 2, 3, 4, 6, 7, 8, 1)  # MemoryRow positions of MEMORY_COLUMNS
_CUSTOM_KINDS = ("time", "str", "str", "float")
_COMPONENT_KINDS = ("str", "str", "str", "str", "str", "str", "Int64", "boolean", "boolean")
_NUMPY_DTYPES = {
    "int": "int64",
    "float": "float64",
    "bool": "bool",
    "str": "object",
    "time": "float64",
    "time_us": "int64",
    "Int64": "object",
    "boolean": "object",
}


def _utc(seconds: Any) -> Any:
    """Epoch seconds -> datetime64[ns, UTC], rounded to the microsecond the runtime measured.

    Rounds half up, as the time filters do (``store.base.RecordQuery``): a bound taken from a
    frame selects its row.
    """
    return _utc_us(rounded_epoch_us(seconds))


def _utc_us(micros: Any) -> Any:
    """Epoch microseconds (int64) -> datetime64[ns, UTC]."""
    import numpy as np
    import pandas as pd

    nanos = np.asarray(micros, dtype="int64") * 1000
    return pd.DatetimeIndex(nanos.view("M8[ns]")).tz_localize("UTC")


def _series(values: Any, kind: str) -> pd.Series:
    import numpy as np
    import pandas as pd

    if kind == "time":
        return pd.Series(_utc(values), copy=False)
    if kind == "time_us":
        return pd.Series(_utc_us(values), copy=False)
    if kind == "str":
        return pd.Series(values, dtype=object, copy=False)
    if kind in ("Int64", "boolean"):
        objects = np.asarray(values, dtype=object)
        missing = np.array([v is None for v in objects], dtype=bool)
        if kind == "boolean":
            flags = np.where(missing, False, objects).astype("bool")
            return pd.Series(pd.arrays.BooleanArray(flags, missing), copy=False)
        ints = np.where(missing, 0, objects).astype("int64")
        return pd.Series(pd.arrays.IntegerArray(ints, missing), copy=False)
    return pd.Series(np.asarray(values, dtype=_NUMPY_DTYPES[kind]), copy=False)


def _extract(rows: Sequence[Sequence[Any]], index: int, kind: str) -> Any:
    return column(rows, index, _NUMPY_DTYPES[kind])


def _frame(columns: Mapping[str, Any], names: Sequence[str], kinds: Sequence[str]) -> pd.DataFrame:
    import pandas as pd

    data = {n: _series(columns[n], k) for n, k in zip(names, kinds, strict=True)}
    # Series of one dtype each, no copy: no consolidation into 2-D blocks.
    return pd.DataFrame(data, columns=list(names), copy=False)


def _from_rows(
    rows: Sequence[Sequence[Any]], names: Sequence[str], kinds: Sequence[str], picks: Sequence[int]
) -> dict[str, Any]:
    return {n: _extract(rows, i, k) for n, k, i in zip(names, kinds, picks, strict=True)}


def _with_session(
    rows: Sequence[Sequence[Any]], names: Sequence[str], kinds: Sequence[str], session_id: int
) -> pd.DataFrame:
    """Rows of the SPEC columns (plus, optionally, the session id as a last field).

    ``errors_frame`` takes both: ``ErrorRow`` tuples, and a ``RecordSource``'s error rows.
    """
    import numpy as np

    width = len(names) - 1
    columns = _from_rows(rows, names[:width], kinds[:width], range(width))
    if rows and len(rows[0]) > width:
        columns["session_id"] = _extract(rows, width, "int")
    else:
        columns["session_id"] = np.full(len(rows), session_id, dtype="int64")
    return _frame(columns, names, kinds)


def metrics_frame(runs: Sequence[Sequence[Any]], session_id: int = 0) -> pd.DataFrame:
    """One row per action execution, from ``RunRow`` tuples (all of session ``session_id``)."""
    return metrics_frame_from_columns(RecordLists(runs, (), session_id).run_columns())


def metrics_frame_from_columns(columns: Mapping[str, Any]) -> pd.DataFrame:
    """One row per action execution, from a ``RecordSource.run_columns()`` (``started_us``:
    epoch microseconds)."""
    named = {("started_at" if k == "started_us" else k): v for k, v in columns.items()}
    kinds = tuple("time_us" if k == "time" else k for k in _RUN_KINDS)
    return _frame(named, METRIC_COLUMNS, kinds)


def errors_frame(errors: Sequence[Sequence[Any]], session_id: int = 0) -> pd.DataFrame:
    """One row per logged error (``ErrorRow`` tuples, optionally + session id); run_id is Int64."""
    return _with_session(errors, ERROR_COLUMNS, _ERROR_KINDS, session_id)


def memories_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """One row per memory, from a store's ``memory_rows()`` (``MemoryRow`` tuples)."""
    columns = _from_rows(rows, MEMORY_COLUMNS, _MEMORY_KINDS, _MEMORY_PICK)
    return _frame(columns, MEMORY_COLUMNS, _MEMORY_KINDS)


def components_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """One row per registered part: (plugin, kind, name, description, similes list,
    parameters, position, dynamic, private); see ``COMPONENT_KIND_COLUMNS`` for the last four.

    ``position`` is Int64 and ``dynamic`` / ``private`` are nullable booleans: <NA> for the
    parts that are no provider.
    """
    width = len(COMPONENT_COLUMNS)
    columns = _from_rows(rows, COMPONENT_COLUMNS, _COMPONENT_KINDS, range(width))
    return _frame(columns, COMPONENT_COLUMNS, _COMPONENT_KINDS)


def custom_metrics_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Handlers' own figures: (timestamp, name, kind 'counter'|'value', value)."""
    columns = _from_rows(rows, CUSTOM_COLUMNS, _CUSTOM_KINDS, range(len(CUSTOM_COLUMNS)))
    return _frame(columns, CUSTOM_COLUMNS, _CUSTOM_KINDS)


def metrics_summary(runs: pd.DataFrame | Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Per action: runs, successes, failures, success rate and duration figures (ms).

    The figures of elizaOS's PerformanceMonitor: count, mean, p50, p95, max, min and total.
    Takes a ``metrics_frame`` or ``RunRow`` tuples.
    """
    import pandas as pd

    frame = runs if isinstance(runs, pd.DataFrame) else _summary_columns(runs)
    if frame.empty:
        ints = ("runs", "successes", "failures")
        empty = {c: pd.Series(dtype="int64" if c in ints else "float64") for c in SUMMARY_COLUMNS}
        empty["action"] = pd.Series(dtype=object)
        return pd.DataFrame(empty, columns=list(SUMMARY_COLUMNS))
    grouped = frame.groupby("action", sort=True)
    durations = grouped["duration_ms"]
    out = pd.DataFrame(
        {
            "runs": grouped.size().astype("int64"),
            "successes": grouped["success"].sum().astype("int64"),
            "mean_ms": durations.mean(),
            "p50_ms": durations.quantile(0.5),
            "p95_ms": durations.quantile(0.95),
            "max_ms": durations.max(),
            "min_ms": durations.min(),
            "total_ms": durations.sum(),
        }
    )
    out["failures"] = out["runs"] - out["successes"]
    out["success_rate"] = out["successes"] / out["runs"]
    out = out.reset_index()[list(SUMMARY_COLUMNS)]
    out["action"] = out["action"].astype(object)
    return out


def _summary_columns(runs: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """The three columns ``metrics_summary`` reads, from ``RunRow`` tuples (a third of the
    cost of the whole ``metrics_frame``)."""
    import pandas as pd

    fields = records.RUN_COLUMNS
    picked = {name: fields.index(name) for name in ("action", "duration_ms", "success")}
    kinds = {"action": "str", "duration_ms": "float", "success": "bool"}
    data = {n: _series(_extract(runs, i, kinds[n]), kinds[n]) for n, i in picked.items()}
    return pd.DataFrame(data, copy=False)


# -- history: one query, read from the file store or from this session's records in memory ---
def run_history(
    recorder: MetricsRecorder,
    action: str | None = None,
    *,
    start: TimeBound = None,
    end: TimeBound = None,
    session_id: int | None = None,
) -> pd.DataFrame:
    """``metrics_frame`` of the runs of ``recorder.history()`` that the filters select.

    With a file store that is every session's runs (pending ones are written first); without
    one, this session's. The filters mean what :class:`~eliza_nb.store.base.RecordQuery` says.

    Raises:
        ValidationError: a time bound is not a datetime, an ISO 8601 string or a number.
        StoreError: the file store could not be written or read.
    """
    query = RecordQuery(action, start, end, session_id)
    frame = metrics_frame_from_columns(recorder.history().run_columns(query))
    return _noting(frame, recorder.lost.runs)


def error_history(
    recorder: MetricsRecorder,
    *,
    start: TimeBound = None,
    end: TimeBound = None,
    session_id: int | None = None,
) -> pd.DataFrame:
    """``errors_frame`` of the errors of ``recorder.history()`` that the filters select
    (see :func:`run_history`)."""
    query = RecordQuery(None, start, end, session_id)
    return _noting(errors_frame(recorder.history().error_rows(query)), recorder.lost.errors)


def custom_history(recorder: MetricsRecorder) -> pd.DataFrame:
    """``custom_metrics_frame`` of the custom metrics ``recorder`` holds (this session)."""
    return _noting(custom_metrics_frame(recorder.custom), recorder.lost.custom)


def summary_history(
    recorder: MetricsRecorder,
    action: str | None = None,
    *,
    start: TimeBound = None,
    end: TimeBound = None,
    session_id: int | None = None,
) -> pd.DataFrame:
    """``metrics_summary`` over :func:`run_history`."""
    frame = run_history(recorder, action, start=start, end=end, session_id=session_id)
    return _noting(metrics_summary(frame), recorder.lost.runs)


def _noting(frame: pd.DataFrame, dropped: int) -> pd.DataFrame:
    """``frame``, saying in ``attrs["dropped"]`` how many older records no longer exist."""
    if dropped:
        frame.attrs["dropped"] = dropped
    return frame
