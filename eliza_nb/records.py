"""The run, error and custom-metric records a runtime appends on its hot path.

Records are plain tuples in lists: appending one costs a tuple and a list append, no pandas and
no model validation. ``eliza_nb.frames`` turns them into DataFrames on demand.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

__all__ = ["ErrorRow", "MetricsRecorder", "RunRow"]


class RunRow(NamedTuple):
    """One action execution (the columns of ``metrics_frame``)."""

    run_id: int
    plugin: str
    action: str
    started: float  # epoch seconds, UTC
    duration_ms: float
    success: bool
    error_code: str | None
    room_id: str


class ErrorRow(NamedTuple):
    """One logged failure (the columns of ``errors_frame``); message and traceback are masked."""

    timestamp: float
    run_id: int | None
    plugin: str
    action: str
    code: str
    error_type: str
    message: str
    traceback: str


RUN_COLUMNS = RunRow._fields
ERROR_COLUMNS = ErrorRow._fields


class MetricsRecorder:
    """Where runs, errors and handlers' own figures are recorded.

    Handlers reach it as ``runtime.metrics``:

    Example:
        >>> from eliza_nb import AgentRuntime
        >>> rt = AgentRuntime()
        >>> rt.metrics.increment("cache_hits")
        >>> rt.metrics.record("tokens", 128)
        >>> rt.custom_metrics_frame()["name"].tolist()
        ['cache_hits', 'tokens']
    """

    __slots__ = ("custom", "errors", "runs")

    def __init__(self) -> None:
        # Tuples are appended directly by the runtime: RunRow/ErrorRow give the field order.
        self.runs: list[tuple[Any, ...]] = []
        self.errors: list[tuple[Any, ...]] = []
        self.custom: list[tuple[float, str, str, float]] = []

    def increment(self, name: str, n: float = 1) -> None:
        """Add ``n`` to the counter ``name`` (a row of kind ``counter``)."""
        self.custom.append((time.time(), name, "counter", float(n)))

    def record(self, name: str, value: float) -> None:
        """Record one observation of ``name`` (a row of kind ``value``)."""
        self.custom.append((time.time(), name, "value", float(value)))

    def counters(self) -> dict[str, float]:
        """Current total of every counter."""
        totals: dict[str, float] = {}
        for _, name, kind, value in self.custom:
            if kind == "counter":
                totals[name] = totals.get(name, 0.0) + value
        return totals

    def clear(self) -> None:
        """Forget every record (used by ``%eliza reset``)."""
        self.runs.clear()
        self.errors.clear()
        self.custom.clear()
