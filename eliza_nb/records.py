"""The run, error and custom-metric records a runtime appends on its hot path, and their flusher.

Records are plain tuples in lists: appending one costs a tuple and a list append, no pandas, no
model validation, no I/O. ``eliza_nb.frames`` turns them into DataFrames on demand.

When the runtime's store is a file, :meth:`MetricsRecorder.attach` starts a daemon thread that
writes the records appended since its last pass to the store every ``FLUSH_INTERVAL`` seconds
(it drains from an offset: the hot path never waits for it). ``close()`` and interpreter exit
write the rest, so only a hard kill (``SIGKILL``, a crashed interpreter, power loss) can lose
records: those of the last interval.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
import weakref
from typing import Any, NamedTuple

from eliza_nb.errors import StoreError
from eliza_nb.store.base import RecordStore

__all__ = ["FLUSH_INTERVAL", "ErrorRow", "MetricsRecorder", "RunRow"]

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
        "_lock",
        "_sink",
        "_stop",
        "custom",
        "errors",
        "runs",
        "session_id",
    )

    def __init__(self) -> None:
        # Tuples are appended directly by the runtime: RunRow/ErrorRow give the field order.
        self.runs: list[tuple[Any, ...]] = []
        self.errors: list[tuple[Any, ...]] = []
        self.custom: list[tuple[float, str, str, float]] = []
        self.session_id = 0
        self._sink: RecordStore | None = None
        self._flushed = (0, 0)  # how many runs and errors the store already holds
        self._lock = threading.Lock()
        self._stop: threading.Event | None = None

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
