"""Tables for people: bordered, padded HTML tables with numbers rounded for reading.

Cards and widgets draw their tables here rather than with ``DataFrame.to_html``: a widget's
HTML gets none of JupyterLab's table styles (its headers run together), so every cell carries
its own inline style, which JupyterLab, Voila and a saved notebook all keep. No ``<style>``
element and no script: nothing here depends on the page.

:func:`frame_table` shows a frame as people read it (``_human``): a ``*_ms`` column with three
significant digits, a ``*_rate`` column as a percent, a time to the second. The frame itself
is not changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from eliza_nb import _human

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["Column", "frame_table", "frame_text", "table_html"]

_TABLE = (
    "<table class='eliza-table' style='border-collapse:collapse;font-family:sans-serif;"
    "font-size:13px;line-height:1.4;font-variant-numeric:tabular-nums;margin:4px 0'>{}</table>"
)
_CELL = "padding:3px 10px;text-align:{};border-bottom:1px solid {};vertical-align:top;{}"
_HEAD = "white-space:nowrap;font-weight:600;background:#f5f5f5"


class Column:
    """One column of a table: its header, whether it holds numbers (right-aligned), and a
    formatter from a value to the text shown (escaped after formatting)."""

    __slots__ = ("format", "header", "numeric")

    def __init__(
        self, header: str, numeric: bool = False, format: Callable[[Any], str] = str
    ) -> None:
        self.header = header
        self.numeric = numeric
        self.format = format


def _style(column: Column, head: bool) -> str:
    align = "right" if column.numeric else "left"
    return _CELL.format(align, "#999" if head else "#e3e3e3", _HEAD if head else "")


def table_html(columns: Sequence[Column], rows: Sequence[Sequence[Any]]) -> str:
    """An HTML table of ``rows`` (one value per column), every text escaped.

    A value may be a ``(text, title)`` pair: the cell shows the text, its tooltip the title.
    """
    heads = "".join(f"<th style='{_style(c, True)}'>{escape(c.header)}</th>" for c in columns)
    body = "".join(
        "<tr>" + "".join(_cell(c, v) for c, v in zip(columns, row, strict=True)) + "</tr>"
        for row in rows
    )
    return _TABLE.format(f"<thead><tr>{heads}</tr></thead><tbody>{body}</tbody>")


def _cell(column: Column, value: Any) -> str:
    title = ""
    if isinstance(value, tuple):
        value, hint = value
        title = f" title='{escape(str(hint), quote=True)}'"
    return f"<td style='{_style(column, False)}'{title}>{escape(column.format(value))}</td>"


def _formatter(name: str, dtype: Any) -> tuple[bool, Callable[[Any], str]]:
    """(numeric, formatter) for a frame's column, from its name and dtype."""
    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(dtype):
        return False, _missing_or(_human.when)
    if pd.api.types.is_bool_dtype(dtype):
        return False, str
    if name.endswith("_ms"):
        return True, _missing_or(_human.ms)
    if name.endswith("_rate"):
        return True, _missing_or(_human.percent)
    if pd.api.types.is_float_dtype(dtype):
        return True, _missing_or(lambda v: f"{v:.3g}")
    if pd.api.types.is_integer_dtype(dtype):
        return True, _missing_or(lambda v: f"{v:,}")
    return False, _missing_or(str)


def _missing_or(fn: Callable[[Any], str]) -> Callable[[Any], str]:
    import pandas as pd

    def show(value: Any) -> str:
        return "" if value is None or value is pd.NaT or _is_na(value) else fn(value)

    return show


def _is_na(value: Any) -> bool:
    import pandas as pd

    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or an array in a cell
        return False


def frame_text(frame: pd.DataFrame) -> str:
    """``frame`` as aligned plain text for people, rounded as :func:`frame_table` rounds it."""
    import pandas as pd

    shown = {}
    for name, dtype in frame.dtypes.items():
        _, fmt = _formatter(str(name), dtype)
        shown[name] = [fmt(v) for v in frame[name].tolist()]
    return pd.DataFrame(shown, index=frame.index).to_string()


def frame_table(frame: pd.DataFrame) -> str:
    """``frame`` as a table for people: numbers rounded, times to the second, escaped."""
    columns: list[Column] = []
    for name, dtype in frame.dtypes.items():
        numeric, fmt = _formatter(str(name), dtype)
        header = str(name).removesuffix("_ms") + " (ms)" if str(name).endswith("_ms") else name
        columns.append(Column(str(header), numeric, fmt))
    return table_html(columns, list(frame.itertuples(index=False, name=None)))
