"""The run, error and custom-metric records a runtime appends on its hot path, and their flusher.

Every run row and every error row is built here, by :meth:`MetricsRecorder.run` and
:meth:`MetricsRecorder.failure`: the one place that makes their text safe to store (lone
surrogates replaced, never raised on) and masks secrets in it. Rows are :class:`RunRow` and
:class:`ErrorRow` tuples in lists: recording one costs a tuple and a list append, no pandas, no
model validation, no I/O. ``eliza_nb.frames`` turns them into DataFrames on demand.

When the runtime's store is a file, :meth:`MetricsRecorder.attach` starts a daemon thread that
writes the records appended since its last pass to the store every ``FLUSH_INTERVAL`` seconds
(it drains from an offset: the hot path never waits for it). ``close()`` and interpreter exit
write the rest, so only a hard kill (``SIGKILL``, a crashed interpreter, power loss) can lose
records: those of the last interval.
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
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from eliza_nb.errors import StoreError
from eliza_nb.store.base import RecordStore
from eliza_nb.types import ErrorInfo

if TYPE_CHECKING:
    from eliza_nb.settings import Masker

__all__ = ["FLUSH_INTERVAL", "ErrorRow", "MetricsRecorder", "RunRow", "safe_text"]

log = logging.getLogger("eliza_nb.records")

#: Seconds between two writes of pending run and error records to a file store.
FLUSH_INTERVAL = 0.2


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


def safe_text(text: str) -> str:
    r"""``text`` with lone surrogates replaced by U+FFFD, so that it encodes to UTF-8.

    What ``os.listdir`` returns for an undecodable file name holds such characters; stored as
    they are, they would make every later write of the SQLite store fail.

    Example:
        >>> safe_text(b"r\xff".decode("utf-8", "surrogateescape")) == "r\ufffd"
        True
    """
    if text.isascii():
        return text
    return _SURROGATE.sub("\ufffd", text)


_SURROGATE = re.compile("[\ud800-\udfff]")


def _text(value: Any) -> str:
    """A stored text field: a string made safe (a non-string is shown through ``str``)."""
    if not isinstance(value, str):
        try:
            value = str(value)
        except Exception:
            value = f"<{type(value).__name__}: unprintable>"
    return safe_text(value)


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

    ``runs`` and ``errors`` hold this session's records; with a file store they are also
    written there (see :meth:`attach`), which is where frames read the history from.
    """

    __slots__ = (
        "__weakref__",
        "_flushed",
        "_ids",
        "_lock",
        "_masker",
        "_sink",
        "_stop",
        "custom",
        "errors",
        "runs",
        "session_id",
    )

    def __init__(self, masker: Masker | None = None) -> None:
        # Appended to only by run() and failure(): RunRow/ErrorRow tuples.
        self.runs: list[RunRow] = []
        self.errors: list[ErrorRow] = []
        self._masker = masker
        self._ids = itertools.count(1)
        self.custom: list[tuple[float, str, str, float]] = []
        self.session_id = 0
        self._sink: RecordStore | None = None
        self._flushed = (0, 0)  # how many runs and errors the store already holds
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None

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
            code = _text(code)
        self.runs.append(
            _run_row((run_id, plugin, action, started, duration_ms, code is None, code, room_id))
        )

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
            code=_text(info.code),
            message=mask(_text(info.message)),
            error_type=_text(info.error_type),
            traceback=mask(_text(info.traceback)),
        )
        self.errors.append(
            _error_row(
                (
                    time.time() if at is None else at,
                    run_id,
                    _text(plugin),
                    _text(action),
                    clean.code,
                    clean.error_type,
                    clean.message,
                    clean.traceback,
                )
            )
        )
        return clean

    def absorb(
        self,
        runs: Sequence[Sequence[Any]],
        errors: Sequence[Sequence[Any]],
        custom: Sequence[tuple[float, str, str, float]] = (),
    ) -> dict[int, int]:
        """Record another recorder's rows here (a Dask worker's), under fresh run ids.

        Returns the map of old to new run ids. The rows go through :meth:`run` and
        :meth:`failure` like any other, keeping their own times.
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
        self.custom.extend(custom)
        return renumber

    @property
    def sink(self) -> RecordStore | None:
        """The store records are flushed to (None: they live in memory only)."""
        return self._sink

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
        self.session_id = store.open_session(agent_id)
        if store.persistent:
            self._sink = store
            self._stop = threading.Event()
            _LIVE.add(self)
            name = f"eliza_nb-flush-{self.session_id}"
            args = (weakref.ref(self), self._stop, interval)
            threading.Thread(target=_flush_loop, args=args, name=name, daemon=True).start()
        return self.session_id

    def flush(self) -> int:
        """Write the records not yet in the store now; returns how many were written.

        Raises:
            StoreError: the store could not be written; the records stay pending for the next try.
        """
        if self._sink is None:
            return 0
        with self._lock:
            return self._write_pending()

    def _write_pending(self) -> int:
        sink = self._sink
        if sink is None:
            return 0
        runs, errors = self.runs, self.errors
        r1, e1 = len(runs), len(errors)  # a consistent cut: appends after it wait for next time
        r0, e0 = self._flushed
        r0, e0 = (0 if r0 > r1 else r0), (0 if e0 > e1 else e0)  # lists were replaced
        if r0 == r1 and e0 == e1:
            return 0
        t0 = time.perf_counter()
        sink.write_records(self.session_id, runs[r0:r1], errors[e0:e1])
        self._flushed = (r1, e1)
        log.debug(
            "flushed %d runs and %d errors of session %d in %.1f ms",
            r1 - r0,
            e1 - e0,
            self.session_id,
            (time.perf_counter() - t0) * 1e3,
        )
        return r1 - r0 + e1 - e0

    def close(self) -> None:
        """Stop the flusher, write what is pending and end the session (idempotent).

        A failure to write is logged, not raised: closing always completes.
        """
        if self._stop is not None:
            self._stop.set()
            self._stop = None
        with self._lock:
            sink = self._sink
            if sink is None:
                return
            try:
                self._write_pending()
                sink.close_session(self.session_id)
            except StoreError as exc:
                log.error(
                    "could not write the last run records of session %d: %s",
                    self.session_id,
                    exc.message,
                )
            finally:
                self._sink = None
                _LIVE.discard(self)

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
        """Forget every record of this session in memory (used by ``%eliza reset``).

        Records a file store already holds (and pending ones, written first) stay there.
        """
        with self._lock:
            if self._sink is not None:
                try:
                    self._write_pending()
                except StoreError as exc:
                    log.error("records lost on clear(): %s", exc.message)
            self.runs.clear()
            self.errors.clear()
            self.custom.clear()
            self._flushed = (0, 0)

    def __repr__(self) -> str:
        where = "in memory" if self._sink is None else f"flushed to {self._sink!r}"
        return (
            f"MetricsRecorder(session={self.session_id}, runs={len(self.runs)}, "
            f"errors={len(self.errors)}, {where})"
        )


def _same(text: str) -> str:
    return text


def _flush_loop(ref: weakref.ref[MetricsRecorder], stop: threading.Event, interval: float) -> None:
    """The flusher thread: write pending records every ``interval`` s until stopped or orphaned."""
    due = time.monotonic()
    last_error = ""
    while True:
        due += interval
        if stop.wait(max(0.0, due - time.monotonic())):
            return
        recorder = ref()
        if recorder is None:  # the runtime was dropped without close()
            return
        try:
            recorder.flush()
            last_error = ""
        except StoreError as exc:  # keep the records and retry; say so once per new failure
            if exc.message != last_error:
                log.error("could not write run records (will retry): %s", exc.message)
            last_error = exc.message
        except Exception:
            log.exception("run record flusher failed; records stay in memory")
            return
        del recorder
        due = max(due, time.monotonic() - interval)  # after a slow write, do not burst


_LIVE: weakref.WeakSet[MetricsRecorder] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    """At interpreter exit, write what every open recorder still holds."""
    for recorder in list(_LIVE):
        recorder.close()


def _forget_after_fork() -> None:
    # A forked child must not write through its parent's SQLite connection.
    for recorder in list(_LIVE):
        recorder._sink = None
        recorder._stop = None
        recorder._lock = threading.Lock()  # the parent's flusher may have held it
    _LIVE.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
