"""Frames the magics return, shown for people: rounded and bordered, full precision kept.

``%eliza metrics``, ``errors``, ``memories`` and ``summary`` return a DataFrame (so ``_`` and
``df = _`` work as with any frame) whose notebook display is ``reprs.frame_html``: durations with
three significant digits, rates as percents, times to the second. Any operation on it gives a
plain DataFrame back, with every digit.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from eliza_nb import reprs

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["for_people"]


@functools.cache
def _shown_class() -> type[pd.DataFrame]:
    import pandas as pd  # on first use: loading the extension does not import pandas

    class ShownFrame(pd.DataFrame):
        """A DataFrame displayed rounded for people; operations give plain DataFrames."""

        _metadata = ["empty_text"]
        empty_text = "no rows"

        @property
        def _constructor(self) -> Any:
            return pd.DataFrame

        def __reduce__(self) -> Any:  # pickled (and copied) as the plain frame it holds
            return pd.DataFrame(self).__reduce__()

        def __repr__(self) -> str:
            return reprs.frame_text(pd.DataFrame(self), self.empty_text)

        def _repr_html_(self) -> str:
            return reprs.frame_html(pd.DataFrame(self), self.empty_text)

    return ShownFrame


def for_people(frame: pd.DataFrame, empty: str) -> pd.DataFrame:
    """``frame`` (not copied) with a rounded display; ``empty`` is shown when it has no rows."""
    shown = _shown_class()(frame, copy=False)
    shown.empty_text = empty  # type: ignore[attr-defined]
    return shown
