"""The run, error and custom-metric records a runtime appends on its hot path, and their flusher.

Every run row and every error row is built here, by :meth:`MetricsRecorder.run` and
:meth:`MetricsRecorder.failure`: the one place that makes their text safe to store (lone
surrogates replaced, never raised on) and masks secrets in it. Rows are :class:`RunRow` and
:class:`ErrorRow` tuples in lists: recording one costs a tuple and a list append, no pandas, no
model validation, no I/O. ``eliza_nb.frames`` turns them into DataFrames on demand.

When the runtime's store is a file, :meth:`MetricsRecorder.attach` gives the recorder a
:class:`~eliza_nb.store.writer.RecordWriter`, whose daemon thread writes the records appended
since its last pass every ``FLUSH_INTERVAL`` seconds (the hot path never waits for it).
``close()`` and interpreter exit write the rest, so only a hard kill (``SIGKILL``, a crashed
interpreter, power loss) can lose records: those of the last interval. A write that fails is
retried, logged once and shown as :attr:`MetricsRecorder.write_error`; only an explicit
``flush()`` raises, ``close()`` and ``clear()`` never do.

:meth:`MetricsRecorder.history` is where frames read the records back: the file store, or
this session's lists (``eliza_nb.store.lists.RecordLists``).

Memory stays bounded however long a kernel runs (``eliza_nb.record_limits.RecordLimits``):
with a file store the file is the source of truth and, after each write, only the newest
``RECORDS_IN_MEMORY`` runs (a tenth as many errors) stay in the lists; without one, past
``MAX_RECORDS`` the oldest are dropped and counted (:attr:`MetricsRecorder.lost`,
``frame.attrs["dropped"]``). Every run and error leaves the lists through
``MetricsRecorder._trim`` (with a file, through the writer's ``trim``, which shifts its offsets
in the same step), which also keeps the totals (``run_count``, ``run_tally()``) right; custom
metrics are held the same way by ``eliza_nb.custom_metrics.CustomMetrics``.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import logging
import os
import re
import threading
import time
import weakref
from collections import Counter
from collections.abc import Sequence
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from eliza_nb._checks import printable
from eliza_nb.custom_metrics import CustomMetrics, CustomRow, checked_number
from eliza_nb.record_limits import RecordCounts, RecordLimits, cut_oldest
from eliza_nb.store.base import RecordSource, RecordStore
from eliza_nb.store.lists import RecordLists
from eliza_nb.store.writer import FLUSH_INTERVAL, RecordWriter
from eliza_nb.tracing import SpanRow
from eliza_nb.types import ErrorInfo

if TYPE_CHECKING:
    from eliza_nb.settings import Masker

__all__ = [
    "FLUSH_INTERVAL",
    "ErrorRow",
    "MetricsRecorder",
    "RecordCounts",
    "RecordLimits",
    "RunRow",
    "safe_str",
    "safe_text",
]

log = logging.getLogger("eliza_nb.records")


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
# tuple.__new__ skips the NamedTuple's Python-level __new__: a third of the cost per row.
_run_row = functools.partial(tuple.__new__, RunRow)
_error_row = functools.partial(tuple.__new__, ErrorRow)


#: What a run is counted by: (action, success, error code).
RunKey = tuple[Any, Any, Any]
_RUN_KEY = itemgetter(2, 5, 6)


def tally(runs: Sequence[Sequence[Any]]) -> Counter[RunKey]:
    """How many runs there are of each ``(action, success, error_code)`` (one C-level pass).

    Records of the wrong shape (appended by other code) are skipped.
    """
    try:
        return Counter(map(_RUN_KEY, runs))
    except (IndexError, TypeError):
        width = len(RUN_COLUMNS)
        good = (r for r in runs if isinstance(r, tuple | list) and len(r) == width)
        return Counter(map(_RUN_KEY, good))


def safe_text(text: str) -> str:
    r"""``text`` with lone surrogates replaced by U+FFFD, so that it encodes to UTF-8.

    What ``os.listdir`` returns for an undecodable file name holds such characters, and UTF-8
    (so SQLite) refuses them. Every run and error row, and the store's write path, use this.

    Example:
        >>> safe_text(b"r\xff".decode("utf-8", "surrogateescape")) == "r\ufffd"
        True
    """
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def safe_str(value: Any) -> str:
    """A stored text field: a string made safe (a non-string is shown through ``str``); never
    raises."""
    return safe_text(value if isinstance(value, str) else printable(value))


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

    ``runs`` and ``errors`` hold this session's newest records, within ``limits``
    (:class:`RecordLimits`): with a file store they are written there (see :meth:`attach`),
    which is where frames read the history from, and only a window of them stays here.
    :attr:`dropped` counts the records no longer held, :attr:`lost` those of them no store
    holds either; :attr:`run_count` and :meth:`run_tally` count every run all the same.
    """

    __slots__ = (
        "__weakref__",
        "_figures",
        "_high_errors",
        "_high_runs",
        "_high_spans",
        "_ids",
        "_lock",
        "_masker",
        "_tally",
        "_warned",
        "_writer",
        "custom",
        "dropped",
        "errors",
        "limits",
        "lost",
        "runs",
        "session_id",
        "spans",
    )

    def __init__(self, masker: Masker | None = None, limits: RecordLimits | None = None) -> None:
        # Appended to only by run() and failure(): RunRow/ErrorRow tuples.
        self.runs: list[RunRow] = []
        self.errors: list[ErrorRow] = []
        #: Finished spans of run traces (``eliza_nb.tracing``), appended by :meth:`span`.
        self.spans: list[SpanRow] = []
        self._masker = masker
        self._ids = itertools.count(1)
        self.limits = RecordLimits() if limits is None else limits
        self._figures = CustomMetrics(self.limits)
        #: Handlers' own figures: (timestamp, name, kind, value) rows.
        self.custom: list[CustomRow] = self._figures.rows
        self.session_id = 0
        self._writer: RecordWriter | None = None  # with a file store only
        caps = self.limits.caps
        self._high_runs, self._high_errors, self._high_spans = map(RecordLimits.high_water, caps)
        #: Records of this session no longer held in memory (with a file store: in the file).
        self.dropped = RecordCounts()
        #: Of the dropped records, those no store holds: no frame can show them.
        self.lost = RecordCounts()
        self._tally: Counter[RunKey] = Counter()  # of the dropped runs
        self._lock = threading.Lock()  # one trim at a time; readers of the lists wait for it
        self._warned = False

    # -- recording: the one place run and error rows are built -------------------------------
    def new_run_id(self) -> int:
        """A fresh run id of this session (1, 2, ...)."""
        return next(self._ids)

    def run(
        self,
        run_id: int,
        plugin: str,
        action: str,
        started: float,
        duration_ms: float,
        room_id: str,
        code: str | None = None,
    ) -> None:
        """Record one finished run; ``code`` is its error code (None: it succeeded).

        ``plugin``, ``action`` and ``room_id`` come checked from the registry and the message;
        the code, which plugin code may choose, is made safe here.
        """
        if code is not None:
            code = safe_str(code)
        runs = self.runs
        runs.append(
            _run_row((run_id, plugin, action, started, duration_ms, code is None, code, room_id))
        )
        if len(runs) > self._high_runs:  # MAX_RECORDS passed by a tenth: cut back to it
            self._trim(self.limits.caps, lossy=True)

    def failure(
        self,
        run_id: int | None,
        plugin: str,
        action: str,
        info: ErrorInfo,
        *,
        at: float | None = None,
    ) -> ErrorInfo:
        """Record one failure (of a run, a hook, a provider ...) and return its clean ``ErrorInfo``.

        The code, message, type and traceback are made safe to store and masked: the returned
        info is what results and cards show, so they hold exactly what the error log holds.
        ``at`` is when it happened (epoch seconds; default: now).
        """
        mask = self._masker.mask if self._masker is not None else _same
        clean = ErrorInfo.model_construct(
            code=safe_str(info.code),
            message=mask(safe_str(info.message)),
            error_type=safe_str(info.error_type),
            traceback=mask(safe_str(info.traceback)),
        )
        self.errors.append(
            _error_row(
                (
                    time.time() if at is None else at,
                    run_id,
                    safe_str(plugin),
                    safe_str(action),
                    clean.code,
                    clean.error_type,
                    clean.message,
                    clean.traceback,
                )
            )
        )
        if len(self.errors) > self._high_errors:
            self._trim(self.limits.caps, lossy=True)
        return clean

    def span(self, row: SpanRow) -> None:
        """Record one finished span (the tracer's sink; its attributes are already masked)."""
        spans = self.spans
        spans.append(row)
        if len(spans) > self._high_spans:
            self._trim(self.limits.caps, lossy=True)

    def absorb(
        self,
        runs: Sequence[Sequence[Any]],
        errors: Sequence[Sequence[Any]],
        custom: Sequence[tuple[float, str, str, float]] = (),
    ) -> dict[int, int]:
        """Record another recorder's rows here (a Dask worker's), under fresh run ids.

        Returns the map of old to new run ids. The rows go through :meth:`run`,
        :meth:`failure` and the custom metrics' path like any other, keeping their own times.
        """
        renumber: dict[int, int] = {}
        for run_id, plugin, action, started, duration, _ok, code, room in runs:
            renumber[run_id] = new = self.new_run_id()
            self.run(new, plugin, action, started, duration, room, code)
        for at, run_id, plugin, action, code, error_type, message, trace in errors:
            info = ErrorInfo.model_construct(
                code=code, message=message, error_type=error_type, traceback=trace
            )
            new_id = None if run_id is None else renumber.get(run_id)
            self.failure(new_id, plugin, action, info, at=at)
        for at, name, kind, value in custom:
            self._custom(at, name, kind, value)
        return renumber

    # -- bounded memory: the one way records leave the lists ---------------------------------
    def _trim(self, keep: tuple[int, ...], *, lossy: bool) -> None:
        """Drop the oldest runs, errors and spans beyond ``keep`` (of each), counting and
        tallying them.

        With a file store the writer cuts (it shifts its offsets in the same step) and, unless
        ``lossy``, only records it has written; without one, whatever is dropped is lost.
        """
        with self._lock:
            lists = self._lists()
            writer = self._writer
            if writer is None:
                cuts = [
                    cut_oldest(rows, len(rows) - k) for rows, k in zip(lists, keep, strict=True)
                ]
                lost = [len(cut) for cut in cuts]
            else:
                cuts, lost = writer.trim(lists, keep, lossy=lossy)
            self._tally.update(tally(cuts[0]))
            self.dropped.runs += len(cuts[0])
            self.dropped.errors += len(cuts[1])
        self._lose(lost[0], lost[1], 0)

    def _lists(self) -> tuple[list[Any], list[Any], list[Any]]:
        """The record lists the writer writes, in its order: runs, errors, spans."""
        return self.runs, self.errors, self.spans

    def _lose(self, runs: int, errors: int, custom: int) -> None:
        """Count records that are gone for good; the first time, say so (a warning)."""
        if not (runs or errors or custom):
            return
        lost = self.lost
        lost.runs += runs
        lost.errors += errors
        lost.custom += custom
        if not self._warned:
            self._warned = True
            where = "" if self._writer is None else " (they could not be written to the store)"
            log.warning(
                "MAX_RECORDS=%d reached in session %d: the oldest records are dropped from "
                "memory%s; frames say how many in frame.attrs['dropped']",
                self.limits.max_records,
                self.session_id,
                where,
            )

    def _keep_window(self) -> None:
        """With a file store, hold the written records to ``limits.window``."""
        keep = self.limits.window
        highs = map(RecordLimits.high_water, keep)
        if any(len(rows) > high for rows, high in zip(self._lists(), highs, strict=True)):
            self._trim(keep, lossy=False)

    @property
    def run_count(self) -> int:
        """How many runs this session recorded (held or not)."""
        return self.dropped.runs + len(self.runs)

    @property
    def error_count(self) -> int:
        """How many errors this session recorded (held or not)."""
        return self.dropped.errors + len(self.errors)

    def run_tally(self) -> Counter[RunKey]:
        """How many runs this session recorded of each ``(action, success, error_code)``,
        the dropped ones included."""
        with self._lock:
            return self._tally + tally(self.runs)

    def recent(self) -> RecordLists:
        """This session's records held in memory (the newest ones), as a record source.

        A copy of the lists: a trim by the flusher thread cannot change it while it is read.
        """
        with self._lock:
            return RecordLists(
                list(self.runs), list(self.errors), self.session_id, list(self.spans)
            )

    # -- the store -------------------------------------------------------------------------
    @property
    def sink(self) -> RecordStore | None:
        """The store records are flushed to (None: they live in memory only)."""
        return None if self._writer is None else self._writer.store

    @property
    def write_error(self) -> str | None:
        """Why the last write to the store failed (one line), or None when it succeeded.

        While it is set, the records that were not written stay pending and are retried.
        """
        return None if self._writer is None else self._writer.error

    def attach(self, store: object, agent_id: str, *, interval: float = FLUSH_INTERVAL) -> int:
        """Open this runtime's session in ``store`` and return its id.

        A persistent store (a file) also becomes the sink: a background thread writes pending
        records every ``interval`` seconds. A store without the ``RecordStore`` methods keeps
        the history in memory (session id 0).

        Raises:
            StoreError: the session could not be recorded.
        """
        if not isinstance(store, RecordStore):
            return self.session_id
        self.close()  # attached before: finish that session first
        written = (0, 0, 0) if self._writer is None else self._writer.written
        self.session_id = store.open_session(agent_id)
        self._writer = None
        if store.persistent:
            self._writer = RecordWriter(store, self.session_id, written)
            self._writer.start(self.flush, interval)
            _LIVE.add(self)
        return self.session_id

    def history(self) -> RecordSource:
        """Where frames read the records: the file store, every session of it (pending records
        are written first), or, without one, this session's records in memory.

        Raises:
            StoreError: the pending records could not be written (see :meth:`flush`).
        """
        sink = self.sink
        if sink is None:
            return RecordLists(self.runs, self.errors, self.session_id, self.spans)
        self.flush()
        return sink

    def flush(self) -> int:
        """Write the records not yet in the store now; returns how many were written.

        Then the written records past ``limits.in_memory`` leave memory (the file has them).

        Raises:
            StoreError: the store could not be written, whatever the cause (another exception
                of the store is wrapped in one). The records stay pending for the next try and
                :attr:`write_error` says why.
        """
        writer = self._writer
        if writer is None:
            return 0
        written = writer.write(self._lists())
        self._keep_window()
        return written

    def close(self) -> None:
        """Stop the flusher, write what is pending and end the session (idempotent).

        Never raises: what cannot be written is logged as an error, and closing completes.
        """
        writer = self._writer
        if writer is not None:
            writer.close(self._lists())
            _LIVE.discard(self)

    # -- handlers' own figures -------------------------------------------------------------
    def increment(self, name: str, n: float = 1) -> None:
        """Add ``n`` to the counter ``name`` (a row of kind ``counter``).

        Raises:
            ValidationError: ``name`` is not a string or ``n`` not a number.
        """
        self._custom(time.time(), name, "counter", checked_number("increment", name, n, "n"))

    def record(self, name: str, value: float) -> None:
        """Record one observation of ``name`` (a row of kind ``value``).

        Raises:
            ValidationError: ``name`` is not a string or ``value`` not a number.
        """
        self._custom(time.time(), name, "value", checked_number("record", name, value, "value"))

    def _custom(self, at: float, name: str, kind: str, value: float) -> None:
        """Record one custom-metric row (and count the rows it pushed out of memory)."""
        dropped = self._figures.add(at, name, kind, value)
        if dropped:
            self.dropped.custom += dropped
            self._lose(0, 0, dropped)

    def counters(self) -> dict[str, float]:
        """Current total of every counter (rows dropped from memory still count)."""
        return self._figures.counters()

    def clear(self) -> None:
        """Forget every record of this session in memory (used by ``%eliza reset``).

        Records a file store already holds (and pending ones, written first) stay there; if the
        pending ones cannot be written, that is logged as an error. Never raises.
        """
        with self._lock:
            if self._writer is not None:
                self._writer.clear(self._lists())  # writes the pending records first
            for rows in self._lists():
                rows.clear()
            self._figures.clear()
            self._tally.clear()
            self.dropped, self.lost, self._warned = RecordCounts(), RecordCounts(), False

    def __repr__(self) -> str:
        sink, error, lost = self.sink, self.write_error, self.lost
        where = "in memory" if sink is None else f"flushed to {sink!r}"
        failing = "" if error is None else f", write_error={error!r}"
        dropped = f", dropped={lost.runs + lost.errors + lost.custom}" if self._warned else ""
        return (
            f"MetricsRecorder(session={self.session_id}, runs={self.run_count}, "
            f"errors={self.error_count}, {where}{dropped}{failing})"
        )


def _same(text: str) -> str:
    return text


_LIVE: weakref.WeakSet[MetricsRecorder] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """At interpreter exit, write what every open recorder still holds."""
    for recorder in list(_LIVE):
        recorder.close()


def _forget_after_fork() -> None:
    # A forked child must not write through its parent's SQLite connection (nor wait for a
    # lock the parent's flusher thread held): its recorders keep their records in memory.
    for recorder in list(_LIVE):
        recorder._writer = None
    _LIVE.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
