"""A session's run and error records held in Python lists, read like a store.

:class:`RecordLists` is the :class:`~eliza_nb.store.base.RecordSource` of a runtime without a
file: it answers the same :class:`~eliza_nb.store.base.RecordQuery` as ``SQLiteStore``, from
the recorder's lists. Columns are pulled out of the record tuples by one C-level pass each
(``map(itemgetter(i), rows)`` into ``numpy.fromiter``), and the query selects with a numpy
mask: a million runs become columns in a fraction of a second. numpy is imported on first use.
"""

from __future__ import annotations

from collections.abc import Sequence
from operator import itemgetter
from typing import Any

from eliza_nb import records
from eliza_nb.store.base import ALL_RECORDS, RecordQuery

__all__ = ["RecordLists", "column", "rounded_epoch_us"]

# numpy dtypes of the RunRow fields, in their order.
_RUN_DTYPES = ("int64", "object", "object", "float64", "float64", "bool", "object", "object")


def column(rows: Sequence[Sequence[Any]], index: int, dtype: str, count: int = -1) -> Any:
    """Field ``index`` of the first ``count`` rows (-1: all) as a numpy array of ``dtype``."""
    import numpy as np

    count = len(rows) if count < 0 else count
    return np.fromiter(map(itemgetter(index), rows), dtype=dtype, count=count)


def rounded_epoch_us(seconds: Any) -> Any:
    """Epoch seconds (an array) -> int64 epoch microseconds, rounded half up.

    The rounding frames show and the time filters assume (``base.rounded_us_bounds``).
    """
    import numpy as np

    micros = np.asarray(seconds, dtype="float64") * 1e6  # a new array: the rest is in place
    micros += 0.5
    np.floor(micros, out=micros)
    return micros.astype("int64")


class RecordLists:
    """Run and error records of one session in memory, queried like a store.

    Args:
        runs: ``RunRow`` tuples (read, never changed).
        errors: ``ErrorRow`` tuples.
        session_id: The session every record belongs to.

    Rows appended while a query reads are left for the next query.
    """

    __slots__ = ("errors", "runs", "session_id", "spans")

    def __init__(
        self,
        runs: Sequence[Sequence[Any]],
        errors: Sequence[Sequence[Any]] = (),
        session_id: int = 0,
        spans: Sequence[Sequence[Any]] = (),
    ) -> None:
        self.runs = runs
        self.errors = errors
        self.session_id = session_id
        self.spans = spans

    def run_columns(self, query: RecordQuery = ALL_RECORDS) -> dict[str, Any]:
        """The runs ``query`` selects, as the columns ``SQLiteStore.run_columns`` returns.

        The columns the query filters on are read first; the others only for the runs selected.
        """
        import numpy as np

        runs, n = self.runs, len(self.runs)  # a cut: every column has the same length
        fields = records.RUN_COLUMNS
        started = rounded_epoch_us(column(runs, fields.index("started"), "float64", n))
        actions = column(runs, fields.index("action"), "object", n)
        sessions = np.full(n, self.session_id, dtype="int64")
        keep = query.mask(started, actions, sessions)
        if keep is not None:
            picked = np.flatnonzero(keep)
            runs, n = [runs[i] for i in picked.tolist()], len(picked)
            started, actions, sessions = started[picked], actions[picked], sessions[picked]
        columns = {
            name: column(runs, i, dtype, n)
            for i, (name, dtype) in enumerate(zip(fields, _RUN_DTYPES, strict=True))
            if name not in ("started", "action")
        }
        return {**columns, "started_us": started, "action": actions, "session_id": sessions}

    def error_rows(self, query: RecordQuery = ALL_RECORDS) -> list[tuple[Any, ...]]:
        """The errors ``query`` selects: ``ErrorRow`` tuples plus the session id."""
        import numpy as np

        errors, session = self.errors[: len(self.errors)], self.session_id
        sessions = np.full(len(errors), session, dtype="int64")
        fields = records.ERROR_COLUMNS
        times = column(errors, fields.index("timestamp"), "float64") * 1e6
        keep = query.mask(times, column(errors, fields.index("action"), "object"), sessions)
        picked = errors if keep is None else [errors[i] for i in np.flatnonzero(keep).tolist()]
        return [(*row, session) for row in picked]

    def span_rows(
        self, trace_id: str | None = None, last: int | None = None
    ) -> list[tuple[Any, ...]]:
        """``SpanRow`` tuples, oldest first: of one trace, of the ``last`` traces, or all."""
        spans = list(self.spans[: len(self.spans)])
        if trace_id is not None:
            return [tuple(s) for s in spans if s[0] == trace_id]
        if last is not None:
            roots = [s[0] for s in spans if s[2] is None][-last:] if last > 0 else []
            wanted = set(roots)
            return [tuple(s) for s in spans if s[0] in wanted]
        return [tuple(s) for s in spans]
