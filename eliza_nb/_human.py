"""Numbers for people: durations, rates, times and counts as cards and dashboards show them.

The frames keep full precision; only what a person reads goes through these. A duration gets
two or three significant digits (``0.0682``, ``1.24``, ``12.3``, ``123``), a rate is a percent,
a time is shown to the second, and a count agrees with its noun (``1 run``, ``2 runs``).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

__all__ = ["count", "duration", "ms", "percent", "when"]


def ms(value: float) -> str:
    """A duration in milliseconds as a bare number of three significant digits (no unit).

    Below 0.001 it is ``"<0.001"``; a NaN (no runs) is ``""``. No exponent ever shows.
    """
    if math.isnan(value):
        return ""
    if value < 0.001:
        return "<0.001"
    rounded = float(f"{value:.3g}")  # rounded first: 99.96 is "100", not "100.0"
    digits = max(0, 2 - math.floor(math.log10(rounded)))
    return f"{rounded:,.{digits}f}"


def duration(value_ms: float) -> str:
    """A duration with its unit: ``"0.0682 ms"``, ``"12.3 ms"``, ``"1.23 s"``, ``"125 s"``."""
    if value_ms >= 1000:
        return f"{ms(value_ms / 1000)} s"
    return f"{ms(value_ms)} ms"


def percent(rate: float) -> str:
    """A rate in [0, 1] as a percent with at most one decimal; never rounds to 0% or 100%
    when it is neither (``"<0.1%"``, ``">99.9%"``)."""
    if math.isnan(rate):
        return ""
    if 0 < rate < 0.001:
        return "<0.1%"
    if 0.999 < rate < 1:
        return ">99.9%"
    return f"{round(rate * 100, 1):g}%"


def when(moment: Any) -> str:
    """A time (a datetime or pandas Timestamp, aware or naive) to the second, in local time."""
    if hasattr(moment, "to_pydatetime"):  # a pandas Timestamp
        moment = moment.to_pydatetime()
    if isinstance(moment, datetime) and moment.tzinfo is not None:
        moment = moment.astimezone()
    return f"{moment:%Y-%m-%d %H:%M:%S}"


def count(n: int, noun: str) -> str:
    """``n`` and its noun, singular for one: ``"1 run"``, ``"1,200 runs"``."""
    return f"{n:,} {noun}" if n == 1 else f"{n:,} {noun}s"
