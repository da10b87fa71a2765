"""Handlers' own figures (``runtime.metrics.increment`` / ``record``): checked, held within
``MAX_RECORDS`` rows, with every counter's total kept as it grows.

Rows are ``(timestamp, name, kind, value)`` tuples, ``kind`` being ``"counter"`` or
``"value"``; ``custom_metrics_frame()`` shows them. Totals are kept apart from the rows, so a
counter's total stays right after its oldest rows left memory.
"""

from __future__ import annotations

import numbers

from eliza_nb.errors import ValidationError
from eliza_nb.record_limits import RecordLimits, cut_oldest

__all__ = ["CustomMetrics", "CustomRow", "checked_number"]

CustomRow = tuple[float, str, str, float]


class CustomMetrics:
    """The custom-metric rows of one session and the totals of its counters.

    Args:
        limits: ``max_records`` bounds the rows held (the oldest go first).
    """

    __slots__ = ("_high", "_totals", "limits", "rows")

    def __init__(self, limits: RecordLimits) -> None:
        self.rows: list[CustomRow] = []
        self.limits = limits
        self._high = RecordLimits.high_water(limits.max_records)
        self._totals: dict[str, float] = {}

    def add(self, at: float, name: str, kind: str, value: float) -> int:
        """Append one row; returns how many of the oldest rows left memory to make room."""
        rows = self.rows
        rows.append((at, name, kind, value))
        if kind == "counter":
            self._totals[name] = self._totals.get(name, 0.0) + value
        if len(rows) <= self._high:
            return 0
        return len(cut_oldest(rows, len(rows) - self.limits.max_records))

    def counters(self) -> dict[str, float]:
        """The total of every counter (rows that left memory still count)."""
        return dict(self._totals)

    def clear(self) -> None:
        """Forget every row and total."""
        self.rows.clear()
        self._totals.clear()


def checked_number(verb: str, name: object, value: object, field: str) -> float:
    """``value`` as a float, once ``name`` is known to be a string and ``value`` a number.

    Raises:
        ValidationError: either is not (one line, naming the field).
    """
    if not isinstance(name, str):
        raise ValidationError(
            f"metrics.{verb}: the metric name must be a string, got {type(name).__name__}",
            field="name",
        )
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValidationError(
            f"metrics.{verb}({name!r}): {field} must be a number, got {type(value).__name__}",
            field=field,
        )
    return float(value)
