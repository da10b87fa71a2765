"""Regression runs: compare a batch's results with an earlier run, and fail a notebook on drift.

:func:`compare_runs` lines two result frames up on a key and returns the rows that differ (and
the keys only one of them has). :func:`check_baseline` keeps a baseline as a Parquet file next to
the notebook and raises :class:`BaselineDriftError` (an ``AssertionError``) with a readable diff
when a new run drifts from it, so an nbval cell fails:

Example:
    >>> results = await runtime.run_batch("ANSWER", questions, text_column="question")
    >>> check_baseline(results, "answers.baseline.parquet")  # empty frame: no drift

The first run writes the file (commit it with the notebook). After an intended change, pass
``update=True`` once, or set ``ELIZA_NB_UPDATE_BASELINES=1`` for the whole run, to rewrite it.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from eliza_nb._checks import check_text, number_arg, one_line, shown
from eliza_nb.errors import Code, ElizaError, StoreError, ValidationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["VOLATILE_COLUMNS", "BaselineDriftError", "check_baseline", "compare_runs"]

log = logging.getLogger("eliza_nb")

#: Columns left out of a comparison unless named: they differ on every run.
VOLATILE_COLUMNS = frozenset(
    {"run_id", "duration_ms", "started_at", "timestamp", "created_at", "id", "traceback"}
)
UPDATE_ENV = "ELIZA_NB_UPDATE_BASELINES"
_SHOWN_ROWS = 20
_SHOWN_WIDTH = 60


class BaselineDriftError(ElizaError, AssertionError):
    """A run's results differ from the stored baseline; ``diff`` holds the changed rows.

    An ``AssertionError``, so pytest and nbval report it as a failed check.
    """

    default_code = Code.BASELINE_DRIFT

    def __init__(self, message: str, diff: pd.DataFrame, path: Path) -> None:
        super().__init__(message, details={"path": str(path), "rows": len(diff)})
        self.diff = diff
        self.path = path


def _labels(value: Any, field: str) -> list[str]:
    """Column names: one name (a string or an int) or a list or tuple of them."""
    names = [value] if isinstance(value, str | int) else value
    if not isinstance(names, list | tuple) or not all(
        isinstance(n, str | int) and not isinstance(n, bool) for n in names
    ):
        raise ValidationError(
            f"{field} must be a column name or a list of them, got {shown(value)}", field=field
        )
    return list(names)


def _keys(key: str | Sequence[str]) -> list[str]:
    keys = _labels(key, "key")
    if not keys:
        raise ValidationError("key must name at least one column", field="key")
    return keys


def _keyed(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``frame`` with its key as columns: the one place a key may live in the index.

    ``run_batch`` and ``run_messages`` frames are aligned with their input, so their key is
    the index; a baseline file (and any frame made before that) has an ``index`` column. The
    default key ``"index"`` means the frame's index when no column has that name; other keys
    may name index levels.
    """
    if all(k in frame.columns for k in keys):
        return frame
    if keys == ["index"] and frame.index.nlevels == 1:
        return frame.rename_axis("index").reset_index()
    levels = [n for n in frame.index.names if n in keys and n not in frame.columns]
    return frame.reset_index(level=levels) if levels else frame  # a missing key: named later


def _checked(frame: Any, field: str) -> pd.DataFrame:
    """``frame``, if it is a DataFrame."""
    import pandas as pd

    if not isinstance(frame, pd.DataFrame):
        raise ValidationError(
            f"{field} must be a pandas DataFrame, got {type(frame).__name__}", field=field
        )
    return frame


def _rtol(rtol: Any) -> float:
    tolerance = number_arg(rtol, "rtol")
    if tolerance < 0:
        raise ValidationError(f"rtol must not be negative, got {tolerance}", field="rtol")
    return tolerance


def _columns(
    baseline: pd.DataFrame, new: pd.DataFrame, keys: list[str], columns: Sequence[str] | None
) -> list[str]:
    if columns is not None:
        columns = _labels(columns, "columns")
    if columns is None:
        return [
            c
            for c in baseline.columns
            if c in new.columns and c not in keys and c not in VOLATILE_COLUMNS
        ]
    return list(columns)


def _check_frame(frame: pd.DataFrame, role: str, needed: list[str], keys: list[str]) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValidationError(
            f"the {role} frame has no column {', '.join(map(repr, missing))} "
            f"(columns: {', '.join(map(str, frame.columns))})",
            field="columns",
        )
    dupes = frame.duplicated(keys)
    if dupes.any():
        first = frame.loc[dupes, keys].iloc[0].tolist()
        raise ValidationError(
            f"the {role} frame has duplicate keys {keys} (first: {first}): choose a unique key",
            field="key",
        )


def _is_null(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN, NaT, pd.NA (whose != is NA: bool() raises)
    except (TypeError, ValueError):
        return value is _na()


def _na() -> Any:
    import pandas as pd

    return pd.NA


def _same(a: Any, b: Any, rtol: float) -> bool:
    if _is_null(a) or _is_null(b):
        return _is_null(a) and _is_null(b)
    if rtol and isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=rtol)
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # arrays and other values without a plain ==
        return repr(a) == repr(b)


def _equal(a: pd.Series, b: pd.Series, rtol: float) -> np.ndarray[Any, Any]:
    """Element-wise 'the same value' (missing equals missing), vectorised where possible."""
    import numpy as np
    import pandas as pd

    numeric = pd.api.types.is_numeric_dtype(a) and pd.api.types.is_numeric_dtype(b)
    if numeric and not pd.api.types.is_bool_dtype(a) and not pd.api.types.is_bool_dtype(b):
        x, y = a.to_numpy(dtype=float, na_value=np.nan), b.to_numpy(dtype=float, na_value=np.nan)
        close: np.ndarray[Any, Any] = np.isclose(x, y, rtol=rtol, atol=0.0, equal_nan=True)
        return close
    return np.fromiter(
        (_same(x, y, rtol) for x, y in zip(a, b, strict=True)), dtype=bool, count=len(a)
    )


def compare_runs(
    baseline_df: pd.DataFrame,
    new_df: pd.DataFrame,
    key: str | Sequence[str] = "index",
    columns: Sequence[str] | None = None,
    *,
    rtol: float = 0.0,
) -> pd.DataFrame:
    """The rows whose compared columns differ between two runs, matched on ``key``.

    Use it on two ``run_batch`` or ``run_messages`` frames (the default key ``"index"`` is
    their index, or an ``index`` column: a baseline file has one) or any two frames with a
    unique key.

    Args:
        baseline_df, new_df: The earlier and the new results.
        key: The column (or columns, or index levels) that identify a row in both frames;
            must be unique. ``"index"`` is the frame's index when no column has that name.
        columns: The columns compared (default: those both frames have, except the key and
            :data:`VOLATILE_COLUMNS` such as ``run_id`` and ``duration_ms``).
        rtol: Relative tolerance for numbers (default: exact). Missing equals missing.

    Returns:
        One row per differing key, sorted by key: the key column(s); ``change``, which is
        ``"changed"``, ``"added"`` (only in ``new_df``) or ``"removed"`` (only in
        ``baseline_df``); ``changed_columns`` (comma-separated names, empty for added and
        removed rows); then ``<column>_baseline`` and ``<column>_new``, side by side, for
        every compared column. Empty (with those columns) when the runs agree.

    Raises:
        ValidationError: a key or compared column is missing, or a key is not unique, or an
            argument is of the wrong type (named).
    """
    baseline_df, new_df = _checked(baseline_df, "baseline_df"), _checked(new_df, "new_df")
    rtol = _rtol(rtol)
    keys = _keys(key)
    baseline_df, new_df = _keyed(baseline_df, keys), _keyed(new_df, keys)
    cols = _columns(baseline_df, new_df, keys, columns)
    _check_frame(baseline_df, "baseline", [*keys, *cols], keys)
    _check_frame(new_df, "new", [*keys, *cols], keys)
    merged = _outer_merge(baseline_df, new_df, keys, cols)
    where = merged.pop("_merge").astype(str).to_numpy()
    differs = _differing(merged, cols, where == "both", rtol)
    return _drifted_rows(merged, keys, cols, where, differs)


def _outer_merge(
    baseline: pd.DataFrame, new: pd.DataFrame, keys: list[str], cols: list[str]
) -> pd.DataFrame:
    """One row per key of either frame, sorted: ``<col>_baseline``, ``<col>_new``, ``_merge``."""
    import pandas as pd

    return pd.merge(
        baseline[[*keys, *cols]],
        new[[*keys, *cols]],
        on=keys,
        how="outer",
        suffixes=("_baseline", "_new"),
        indicator=True,
        sort=True,
    )


def _differing(
    merged: pd.DataFrame, cols: list[str], both: np.ndarray[Any, Any], rtol: float
) -> dict[str, np.ndarray[Any, Any]]:
    """Per compared column, which rows present in ``both`` runs hold different values."""
    return {c: both & ~_equal(merged[f"{c}_baseline"], merged[f"{c}_new"], rtol) for c in cols}


def _change_labels(where: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """``changed``, ``removed`` or ``added`` for each merged row, from the merge indicator."""
    import numpy as np

    change = np.full(len(where), "changed", dtype=object)
    change[where == "left_only"] = "removed"
    change[where == "right_only"] = "added"
    return change


def _drifted_rows(
    merged: pd.DataFrame,
    keys: list[str],
    cols: list[str],
    where: np.ndarray[Any, Any],
    differs: dict[str, np.ndarray[Any, Any]],
) -> pd.DataFrame:
    """The added, removed and changed rows, with ``change`` and ``changed_columns`` after the key.

    ``differs`` holds, per compared column, which rows of both runs differ in it.
    """
    import numpy as np
    import pandas as pd

    changed = np.zeros(len(merged), dtype=bool)
    for mask in differs.values():
        changed |= mask
    names = [", ".join(c for c in cols if differs[c][i]) for i in range(len(merged))]
    labels = pd.Series(_change_labels(where), index=merged.index, dtype=object)
    merged.insert(len(keys), "change", labels)
    merged.insert(
        len(keys) + 1, "changed_columns", pd.Series(names, index=merged.index, dtype=object)
    )
    pairs = [f"{c}_{side}" for c in cols for side in ("baseline", "new")]
    kept = (where != "both") | changed
    out: pd.DataFrame = merged.loc[kept, [*keys, "change", "changed_columns", *pairs]]
    return out.reset_index(drop=True)


def _canonical(frame: pd.DataFrame) -> pd.DataFrame:
    """A Parquet-safe copy: text stays text, other objects become their JSON text.

    Lists, dicts and mixed object columns do not survive a Parquet round trip as themselves
    (dicts gain keys, lists become arrays), so both sides of a baseline check compare this form.
    """
    import pandas as pd

    out = frame.copy()
    for name in out.columns:
        col = out[name]
        if col.dtype == object or isinstance(col.dtype, pd.StringDtype):
            out[name] = pd.Series([_text(v) for v in col], index=col.index, dtype=object)
    return out


def _text(value: Any) -> str | None:
    if _is_null(value):
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=_jsonable)


def _jsonable(value: Any) -> Any:
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    if hasattr(value, "tolist"):
        return value.tolist()
    return str(value)


def _diff_message(diff: pd.DataFrame, path: Path) -> str:
    counts = diff["change"].value_counts()
    summary = ", ".join(f"{int(counts.get(k, 0))} {k}" for k in ("changed", "added", "removed"))
    shown = diff.head(_SHOWN_ROWS).to_string(max_colwidth=_SHOWN_WIDTH, index=False)
    more = f"\n... and {len(diff) - _SHOWN_ROWS} more" if len(diff) > _SHOWN_ROWS else ""
    return (
        f"{len(diff)} rows drifted from the baseline {path} ({summary}):\n{shown}{more}\n"
        f"If the change is intended, run check_baseline(..., update=True) once "
        f"or set {UPDATE_ENV}=1."
    )


def check_baseline(
    df: pd.DataFrame,
    path: str | os.PathLike[str],
    key: str | Sequence[str] = "index",
    columns: Sequence[str] | None = None,
    *,
    update: bool | None = None,
    rtol: float = 0.0,
) -> pd.DataFrame:
    """Compare ``df`` with the baseline Parquet file at ``path``; raise if it drifted.

    A relative ``path`` is taken from the working directory, which is the notebook's folder
    in Jupyter and under nbval, so the baseline lives next to the notebook. The file holds the
    key and compared columns only; a key taken from the index is a column there
    (``index`` for the default key), so the file reads as a plain table.

    Args:
        df: The new results (a ``run_batch`` frame, or any frame with a unique ``key``).
        path: The baseline file. Missing: ``df`` is written there and the check passes.
        key, columns, rtol: As in :func:`compare_runs` (``columns`` defaults to the columns
            of ``df`` except the key and :data:`VOLATILE_COLUMNS`).
        update: True rewrites the baseline from ``df``; None (default) does so when the
            ``ELIZA_NB_UPDATE_BASELINES`` environment variable is ``1``.

    Returns:
        The (empty) diff frame of :func:`compare_runs`, so a cell shows the same output on
        every passing run, whether the baseline was just written or checked.

    Raises:
        BaselineDriftError: ``df`` differs from the baseline; the message shows the diff
            (up to 20 rows) and ``.diff`` holds all of it.
        ValidationError: a key or compared column is missing, or a key is not unique, or an
            argument is of the wrong type (named).
        StoreError: the baseline file cannot be read as Parquet or written (it is named).
    """
    df, rtol = _checked(df, "df"), _rtol(rtol)
    keys = _keys(key)
    df = _keyed(df, keys)
    cols = _columns(df, df, keys, columns)
    _check_frame(df, "new", [*keys, *cols], keys)
    new = _canonical(df[[*keys, *cols]]).reset_index(drop=True)
    target = _path(path)
    update = _update_requested(update)
    if update or not target.exists():
        _write_baseline(new, target, "updated" if update else "created")
        return compare_runs(new, new, keys, cols, rtol=rtol)
    baseline = _read_baseline(target, [*keys, *cols])
    diff = compare_runs(baseline, new, keys, cols, rtol=rtol)
    if len(diff):
        raise BaselineDriftError(_diff_message(diff, target), diff, target)
    return diff


def _path(path: Any) -> Path:
    """The baseline's path, if ``path`` is a usable one (a string or path, not a directory)."""
    if not isinstance(path, str | os.PathLike) or isinstance(path, bytes):
        raise ValidationError(f"path must be a file path, got {type(path).__name__}", field="path")
    target = Path(path)
    check_text(str(target), "path")
    if target.is_dir():
        raise ValidationError(
            f"path {shown(str(target), 200)} is a directory: name the baseline file",
            field="path",
        )
    return target


def _update_requested(update: bool | None) -> bool:
    """``update`` if given, else whether ``ELIZA_NB_UPDATE_BASELINES=1`` asks for it."""
    if update is None:
        return os.environ.get(UPDATE_ENV, "") == "1"
    if not isinstance(update, bool):
        raise ValidationError(
            f"update must be True, False or None, got {shown(update)}", field="update"
        )
    return update


def _unusable(target: Path, doing: str, exc: Exception) -> StoreError:
    return StoreError(
        f"the baseline {shown(str(target), 200)} cannot be {doing} "
        f"({type(exc).__name__}: {one_line(exc)[:200]}): delete it, or pass update=True "
        "to write it again",
        details={"path": str(target)},
    )


def _write_baseline(frame: pd.DataFrame, target: Path, verb: str) -> None:
    """Write ``frame`` as the baseline at ``target`` (its folder is made if need be)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        frame.to_parquet(target, index=False)
    except (OSError, ValueError) as exc:  # pyarrow's errors are ValueErrors or OSErrors
        raise _unusable(target, "written", exc) from None
    log.info("baseline %s %s (%d rows)", target, verb, len(frame))


def _read_baseline(target: Path, needed: list[str]) -> pd.DataFrame:
    """The baseline at ``target`` in canonical form.

    Raises:
        ValidationError: it lacks one of the ``needed`` columns (written with other columns).
        StoreError: it cannot be read as Parquet.
    """
    import pandas as pd

    try:
        raw = pd.read_parquet(target)
    except Exception as exc:  # pyarrow's ArrowInvalid (not Parquet), OSError, ...
        raise _unusable(target, "read as Parquet", exc) from None
    baseline = _canonical(raw)
    lacking = [c for c in needed if c not in baseline.columns]
    if lacking:
        raise ValidationError(
            f"the baseline {target} has no column {', '.join(map(repr, lacking))}: pass the "
            "columns it was written with, or update=True to rewrite it",
            field="columns",
        )
    return baseline
