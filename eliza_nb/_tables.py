"""Tiny frame builder for the 1.x views (models, events, plugin test results).

pandas is imported on first use, as in :mod:`eliza_nb.frames`; an empty input gives an empty
frame with the same columns and dtypes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["UTC_NS", "table"]

UTC_NS = "datetime64[ns, UTC]"
"""The dtype of time columns; their rows hold epoch seconds."""


def table(rows: Sequence[Sequence[Any]], schema: Sequence[tuple[str, str]]) -> pd.DataFrame:
    """A DataFrame of ``rows`` (tuples) with the ``(column, dtype)`` pairs of ``schema``.

    A :data:`UTC_NS` column takes epoch seconds.
    """
    import pandas as pd

    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema]
    data = {
        name: _series(list(values), dtype)
        for (name, dtype), values in zip(schema, columns, strict=True)
    }
    return pd.DataFrame(data, columns=[name for name, _ in schema])


def _series(values: list[Any], dtype: str) -> pd.Series[Any]:
    import numpy as np
    import pandas as pd

    if dtype == UTC_NS:  # epoch seconds in, nanosecond UTC timestamps out
        seconds = np.asarray(values, dtype="float64")
        return pd.Series(pd.to_datetime((seconds * 1e9).astype("int64"), utc=True), dtype=dtype)
    return pd.Series(values, dtype=object if dtype == "object" else dtype)
