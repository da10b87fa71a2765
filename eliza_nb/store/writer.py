"""Writing a recorder's run, error and span records to a file store, from a background thread.

A :class:`RecordWriter` owns one session of a store and the offsets of what it has written:
each pass writes what the record lists gained since the last one, in one transaction, so the
hot path that appends to them never waits for it. Records leave the lists only through
:meth:`RecordWriter.trim`, the one place that shifts those offsets to match.

A write that fails, for whatever reason (``StoreError``, a foreign store's own exception, a
bug), leaves its records pending: the next pass retries them. The failure is logged once as a
warning on the ``eliza_nb.records`` logger (again only when the failure changes) and kept as
:attr:`RecordWriter.error` until a write succeeds. The background thread never stops on a
failure; it stops when told to, or when the recorder it flushes is garbage collected.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from eliza_nb import records
from eliza_nb.errors import StoreError
from eliza_nb.record_limits import cut_oldest
from eliza_nb.store.base import RecordStore

__all__ = ["FLUSH_INTERVAL", "RecordWriter"]

# The recorder's logger: a user who wants to hear about lost records configures one name.
log = logging.getLogger("eliza_nb.records")

#: Seconds between two writes of pending run and error records to a file store.
FLUSH_INTERVAL = 0.2

Rows = Sequence[Sequence[Any]]
#: The recorder's record lists, in this order: runs, errors, spans.
Lists = Sequence[Rows]


class RecordWriter:
    """Writes what a recorder's record lists (runs, errors, spans) gained since its last write
    to one session of a store.

    Args:
        store: The store (a file).
        session_id: The session the records belong to.
        written: How many records of each list are already stored.

    Every method holds the writer's lock: the background thread and the notebook never write
    at the same time.
    """

    __slots__ = ("_lock", "_stop", "_written", "error", "session_id", "store")

    def __init__(self, store: RecordStore, session_id: int, written: tuple[int, ...]) -> None:
        #: Where records go; None once closed.
        self.store: RecordStore | None = store
        self.session_id = session_id
        #: Why the last write failed (one line), or None when it succeeded.
        self.error: str | None = None
        self._written = tuple(written) + (0,) * (3 - len(written))
        self._lock = threading.Lock()
        self._stop = threading.Event()

    @property
    def written(self) -> tuple[int, ...]:
        """How many records of each list the store holds."""
        return self._written

    def start(self, flush: Callable[[], object], interval: float = FLUSH_INTERVAL) -> None:
        """Call the bound method ``flush`` every ``interval`` s from a daemon thread.

        The thread holds ``flush`` weakly: it ends with :meth:`close`, or when the object
        ``flush`` belongs to is garbage collected.
        """
        args = (weakref.WeakMethod(flush), self._stop, interval)
        name = f"eliza_nb-flush-{self.session_id}"
        threading.Thread(target=_flush_loop, args=args, name=name, daemon=True).start()

    def write(self, lists: Lists) -> int:
        """Write the records the lists gained since the last write; returns how many.

        Raises:
            StoreError: the store could not be written, whatever the cause (another exception
                is wrapped in one); the records stay pending and :attr:`error` says why.
        """
        with self._lock:
            return self._write(lists)

    def trim(
        self, lists: Sequence[list[Any]], keep: Sequence[int], *, lossy: bool = False
    ) -> tuple[list[list[Any]], list[int]]:
        """Remove the oldest records of each list beyond the newest ``keep`` of it, and shift
        the offsets of what is written to match.

        Without ``lossy`` only records already written are removed (the file has them); with
        it pending ones go too, and are lost. Returns the removed records of each list (oldest
        first) and how many of each had not been written.
        """
        with self._lock:
            cuts = [
                _cut(rows, k, w, lossy)
                for rows, k, w in zip(lists, keep, self._written, strict=True)
            ]
            self._written = tuple(
                max(0, w - len(cut)) for w, (cut, _) in zip(self._written, cuts, strict=True)
            )
            return [cut for cut, _ in cuts], [lost for _, lost in cuts]

    def clear(self, lists: Sequence[list[Any]]) -> None:
        """Write what is pending (if still open), then empty the lists and start over from
        their beginning; never raises (a failure is logged)."""
        with self._lock:
            self._write_or_log(lists, "clear()")
            for rows in lists:
                rows.clear()
            self._written = (0,) * len(self._written)

    def close(self, lists: Lists) -> None:
        """Stop the thread, write what is pending and end the session (idempotent).

        Never raises: what cannot be written is logged as an error, and closing completes.
        """
        self._stop.set()
        with self._lock:
            store = self.store
            if store is None:
                return
            try:
                self._write_or_log(lists, "close()")
                store.close_session(self.session_id)
            except Exception as exc:
                log.error("could not end session %d: %s", self.session_id, _describe(exc))
            finally:
                self.store = None

    def _pending(self, lists: Lists) -> tuple[list[Rows], tuple[int, ...]]:
        """The records of each list not yet written, and the offsets to remember once they are."""
        ends = tuple(len(rows) for rows in lists)  # a cut: appends after it wait for next time
        starts = [0 if w > e else w for w, e in zip(self._written, ends, strict=True)]
        return [rows[a:b] for rows, a, b in zip(lists, starts, ends, strict=True)], ends

    def _write(self, lists: Lists) -> int:
        store = self.store
        if store is None:
            return 0
        (runs, errors, spans), ends = self._pending(lists)
        if not runs and not errors and not spans:
            return 0
        t0 = time.perf_counter()
        try:
            if spans:  # only then: a store written before traces existed takes two lists
                store.write_records(self.session_id, runs, errors, spans=spans)
            else:
                store.write_records(self.session_id, runs, errors)
        except StoreError as exc:
            self._failed(exc.message)
            raise
        except Exception as exc:  # a foreign store, or a bug: the caller still gets a StoreError
            message = f"could not write run records to {store!r}: {_describe(exc)}"
            self._failed(message)
            raise StoreError(message, details={"error_type": type(exc).__name__}) from exc
        self._written = ends
        self._succeeded()
        ms = (time.perf_counter() - t0) * 1e3
        log.debug(
            "flushed %d runs, %d errors and %d spans in %.1f ms",
            len(runs),
            len(errors),
            len(spans),
            ms,
        )
        return len(runs) + len(errors) + len(spans)

    def _failed(self, message: str) -> None:
        line = records.safe_text(message).strip().split("\n", 1)[0] or "unknown error"
        if line != self.error:  # once per distinct failure, not at every retry
            log.warning(
                "run records of session %d stay pending (will retry): %s", self.session_id, line
            )
        self.error = line

    def _succeeded(self) -> None:
        if self.error is not None:
            log.info("run records of session %d are written again", self.session_id)
            self.error = None

    def _write_or_log(self, lists: Lists, when: str) -> None:
        try:
            self._write(lists)
        except StoreError as exc:
            left, _ = self._pending(lists)
            log.error(
                "%s: %d runs, %d errors and %d spans of session %d could not be written: %s",
                when,
                *map(len, left),
                self.session_id,
                exc.message,
            )

    def __repr__(self) -> str:
        failing = "" if self.error is None else f", error={self.error!r}"
        return f"RecordWriter({self.store!r}, session={self.session_id}{failing})"


def _cut(rows: list[Any], keep: int, written: int, lossy: bool) -> tuple[list[Any], int]:
    """Cut the rows beyond the newest ``keep`` (only written ones unless ``lossy``); returns
    them and how many of them were not written."""
    count = len(rows) - keep
    if not lossy:
        count = min(count, written)
    cut = cut_oldest(rows, count)
    return cut, max(0, len(cut) - written)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {records.safe_str(exc)}"


def _flush_loop(
    ref: weakref.WeakMethod[Callable[[], object]], stop: threading.Event, interval: float
) -> None:
    """The thread: call ``ref()()`` every ``interval`` s until stopped or orphaned.

    It never gives up: a write that fails is retried at the next interval.
    """
    due = time.monotonic()
    while True:
        due += interval
        if stop.wait(max(0.0, due - time.monotonic())):
            return
        flush = ref()
        if flush is None:  # the recorder was dropped without close()
            return
        try:
            flush()
        except StoreError:
            pass  # noted in ``error`` and logged once; the records wait for the next pass
        except Exception:  # a bug of ours: say so, and keep the thread alive
            log.exception("run record flusher failed (will retry)")
        del flush
        due = max(due, time.monotonic() - interval)  # after a slow write, do not burst
