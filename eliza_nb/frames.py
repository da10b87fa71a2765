"""Records and memories as pandas DataFrames with fixed column orders and dtypes.

pandas is imported on first use so that importing eliza_nb (and the hot path) never pays for it.
Every function returns an empty frame with the same columns and dtypes when there is no data.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "COMPONENT_COLUMNS",
    "ERROR_COLUMNS",
    "MEMORY_COLUMNS",
    "METRIC_COLUMNS",
    "SUMMARY_COLUMNS",
    "components_frame",
    "custom_metrics_frame",
    "errors_frame",
    "memories_frame",
    "metrics_frame",
    "metrics_summary",
]

METRIC_COLUMNS = (
    "run_id", "plugin", "action", "started_at", "duration_ms", "success", "error_code", "room_id"
)  # fmt: skip
ERROR_COLUMNS = (
    "timestamp", "run_id", "plugin", "action", "code", "error_type", "message", "traceback"
)  # fmt: skip
MEMORY_COLUMNS = ("id", "created_at", "room_id", "user_id", "agent_id", "text", "action", "content")
COMPONENT_COLUMNS = ("plugin", "kind", "name", "description", "similes")
SUMMARY_COLUMNS = (
    "action", "runs", "successes", "failures", "success_rate", "mean_ms", "p50_ms", "p95_ms",
    "max_ms",
)  # fmt: skip
CUSTOM_COLUMNS = ("timestamp", "name", "kind", "value")

_UTC_NS = "datetime64[ns, UTC]"


def _column(values: Sequence[Any], dtype: str) -> Any:
    import numpy as np
    import pandas as pd

    if dtype == _UTC_NS:
        seconds = np.fromiter(values, dtype="float64", count=len(values))
        return pd.to_datetime((seconds * 1e9).astype("int64"), utc=True)
    if dtype == "object":
        arr = np.empty(len(values), dtype=object)
        arr[:] = values
        return arr
    return np.fromiter(values, dtype=dtype, count=len(values))


def _frame(rows: Sequence[Sequence[Any]], columns: Sequence[str], dtypes: Sequence[str]) -> Any:
    import pandas as pd

    cols = list(zip(*rows, strict=True)) if rows else [() for _ in columns]
    data = {
        name: pd.Series(_column(col, dtype), dtype=dtype if dtype != "object" else object)
        for name, col, dtype in zip(columns, cols, dtypes, strict=True)
    }
    return pd.DataFrame(data, columns=list(columns))


def metrics_frame(runs: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """One row per action execution (``RunRow`` tuples in)."""
    dtypes = ("int64", "object", "object", _UTC_NS, "float64", "bool", "object", "object")
    return _frame(runs, METRIC_COLUMNS, dtypes)


def errors_frame(errors: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """One row per logged error (``ErrorRow`` tuples in); run_id is nullable Int64."""
    import pandas as pd

    dtypes = (_UTC_NS, "object", "object", "object", "object", "object", "object", "object")
    frame = _frame(errors, ERROR_COLUMNS, dtypes)
    frame["run_id"] = pd.array(list(frame["run_id"]), dtype="Int64")
    return frame


def memories_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """One row per memory: (id, created_at epoch s, room, user, agent, text, action, content)."""
    dtypes = ("object", _UTC_NS, "object", "object", "object", "object", "object", "object")
    return _frame(rows, MEMORY_COLUMNS, dtypes)


def components_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """One row per registered part: (plugin, kind, name, description, similes list)."""
    return _frame(rows, COMPONENT_COLUMNS, ("object",) * len(COMPONENT_COLUMNS))


def custom_metrics_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Handlers' own figures: (timestamp, name, kind 'counter'|'value', value)."""
    return _frame(rows, CUSTOM_COLUMNS, (_UTC_NS, "object", "object", "float64"))


def metrics_summary(runs: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """Per action: runs, successes, failures, success rate and duration percentiles (ms)."""
    import pandas as pd

    frame = metrics_frame(runs)
    if frame.empty:
        empty = {c: pd.Series(dtype="float64") for c in SUMMARY_COLUMNS}
        empty["action"] = pd.Series(dtype=object)
        for c in ("runs", "successes", "failures"):
            empty[c] = pd.Series(dtype="int64")
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
        }
    )
    out["failures"] = out["runs"] - out["successes"]
    out["success_rate"] = out["successes"] / out["runs"]
    return out.reset_index()[list(SUMMARY_COLUMNS)]
