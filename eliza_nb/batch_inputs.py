"""A batch's inputs normalised: each row's message and options, from a list, Series or frame.

``run_batch`` (:mod:`eliza_nb.batch`), its Dask workers (:mod:`eliza_nb.distributed`) and
``run_messages`` (:mod:`eliza_nb.conversations`) read their inputs through :class:`BatchInputs`,
the one place that says what a batch input may be and names what is wrong with a bad one.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from eliza_nb.errors import ValidationError

__all__ = ["BatchInputs"]

_MISSING = object()


class BatchInputs:
    """Inputs normalised to positional columns: what each row's message and options are.

    Built by :meth:`from_inputs`; ``rows()`` yields ``(position, message, options)`` lazily, and
    ``part()`` cuts a contiguous slice (without the labels) to ship to a cluster worker.
    """

    __slots__ = ("columns", "items", "keys", "labels", "records", "text_column")

    def __init__(
        self,
        items: list[Any],
        *,
        columns: dict[str, list[Any]] | None = None,
        records: bool = False,
        text_column: str = "text",
        keys: tuple[str, ...] | None = None,
        labels: Any = None,
    ) -> None:
        self.items = items  # texts (frame) or raw items (list): texts or dicts
        self.columns = columns or {}  # option columns of a frame
        self.records = records  # items may be dicts holding the text and options
        self.text_column = text_column
        self.keys = keys  # the option keys to take from a dict item (None: all others)
        self.labels = labels  # the input's index labels, None for 0..n-1

    @classmethod
    def from_inputs(
        cls, inputs: Any, text_column: str = "text", option_columns: Sequence[str] | None = None
    ) -> BatchInputs:
        """Normalise a list of texts, a list of dicts, a Series or a DataFrame.

        A DataFrame gives each row's text from ``text_column`` and its options from
        ``option_columns`` (none when not named: a frame often holds expected answers too).
        A dict item gives its text from ``text_column`` and every other key as an option
        (only ``option_columns`` when named).

        Raises:
            ValidationError: ``inputs`` is not one of those, or a named column is missing.
        """
        import pandas as pd

        keys = None if option_columns is None else tuple(option_columns)
        if isinstance(option_columns, str):
            raise ValidationError("option_columns must be a list of names", field="option_columns")
        if isinstance(inputs, pd.DataFrame):
            missing = [c for c in (text_column, *(keys or ())) if c not in inputs.columns]
            if missing:
                raise ValidationError(
                    f"inputs has no column {', '.join(map(repr, missing))} "
                    f"(columns: {', '.join(map(str, inputs.columns))})",
                    field="text_column" if text_column in missing else "option_columns",
                )
            cols = {c: inputs[c].tolist() for c in keys or ()}
            return cls(inputs[text_column].tolist(), columns=cols, labels=inputs.index)
        if isinstance(inputs, pd.Series):
            return cls(inputs.tolist(), labels=inputs.index)
        if isinstance(inputs, str | bytes | Mapping) or not isinstance(inputs, Iterable):
            raise ValidationError(
                "inputs must be a list of texts, a list of dicts or a DataFrame, "
                f"got {type(inputs).__name__}",
                field="inputs",
            )
        items = inputs if isinstance(inputs, list) else list(inputs)
        return cls(items, records=True, text_column=text_column, keys=keys)

    def __len__(self) -> int:
        return len(self.items)

    def part(self, start: int, stop: int) -> BatchInputs:
        """The inputs ``start:stop`` (positions restart at 0; labels are left behind)."""
        cols = {c: v[start:stop] for c, v in self.columns.items()}
        return BatchInputs(
            self.items[start:stop],
            columns=cols,
            records=self.records,
            text_column=self.text_column,
            keys=self.keys,
        )

    def rows(self) -> Iterator[tuple[int, Any, dict[str, Any]]]:
        """Yield ``(position, message, options)`` for every input, lazily."""
        items, cols, records = self.items, self.columns, self.records
        names = tuple(cols)
        for pos, item in enumerate(items):
            if records and isinstance(item, dict):
                yield pos, *self._split(item)
            else:
                yield pos, item, ({n: cols[n][pos] for n in names} if names else {})

    def _split(self, item: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        text = item.get(self.text_column, _MISSING)
        if text is _MISSING:  # the worker records this as the row's failure
            text = ValidationError(f"input has no {self.text_column!r} key", field="text_column")
        if self.keys is None:
            return text, {k: v for k, v in item.items() if k != self.text_column}
        return text, {k: item[k] for k in self.keys if k in item}
