"""Batch runs: one action over many inputs, with bounded concurrency and per-row results.

Use :func:`run_batch` (or ``await runtime.run_batch(...)``, or ``%eliza batch`` in the kernel) to
evaluate a plugin over a column of questions or a log of messages. It returns one DataFrame row
per input, in input order, indexed like the input (``df.join(results)`` works), with the columns
of :data:`BATCH_COLUMNS`.

How it runs:
    A fixed pool of ``concurrency`` worker coroutines pull inputs from one shared iterator: an
    input becomes a run only when a worker is free, so a million-row frame never holds more than
    ``concurrency`` runs in flight (back-pressure). Each row goes through the runtime's execution
    path, so it is validated, timed, recorded in ``metrics_frame()`` and, when it fails, in
    ``errors_frame()``; a failure or a timeout is a row with ``success=False``, never an
    exception, and the batch goes on.

Interrupting:
    Press the notebook's stop button (or Ctrl-C in a terminal), or cancel the task that awaits
    ``run_batch`` (``task.cancel()``, ``asyncio.timeout(...)``). In-flight runs are cancelled (each
    recorded with code ``CANCELLED``), no further input starts, and ``run_batch`` *returns* the
    rows finished so far instead of raising: the frame's ``attrs["interrupted"]`` is True and
    ``attrs["total"]`` holds the number of inputs, so ``df = await runtime.run_batch(...)`` still
    binds ``df``. How the interrupt arrives depends on who runs the loop, and each way ends the
    same: in a kernel cell with top-level ``await``, ipykernel turns SIGINT into a cancellation of
    the cell's task; under ``asyncio.run`` the runner does the same; where Python's default
    handler is in place (a magic or ``runtime.run_sync`` in a cell, a plain script), ``run_batch``
    installs its own SIGINT handler for the duration of the batch, in the main thread only, and
    puts the previous one back afterwards. A second Ctrl-C raises ``KeyboardInterrupt`` as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from eliza_nb._checks import shown
from eliza_nb.batch_inputs import BatchInputs
from eliza_nb.dispatcher import check_timeout
from eliza_nb.errors import ElizaError, ValidationError
from eliza_nb.types import ActionResult

if TYPE_CHECKING:
    import pandas as pd

    from eliza_nb.plugin import Action
    from eliza_nb.runtime import AgentRuntime

__all__ = ["BATCH_COLUMNS", "BatchInputs", "run_batch"]

log = logging.getLogger("eliza_nb.batch")

BATCH_COLUMNS = (
    "success",
    "text",
    "data",
    "error_code",
    "error_message",
    "duration_ms",
    "run_id",
)
BACKENDS = ("local", "dask")
# A worker whose action never suspends (a sync or no-op handler) hands the loop back this often,
# so an interrupt, a progress refresh or a widget callback is not starved.
_YIELD_EVERY = 1024


class BatchRows:
    """The output columns, filled by position as runs finish (None: not run yet)."""

    __slots__ = ("data", "duration_ms", "error_code", "error_message", "run_id", "success", "text")

    def __init__(self, n: int) -> None:
        self.success: list[bool | None] = [None] * n
        self.text: list[str | None] = [None] * n
        self.data: list[Any] = [None] * n
        self.error_code: list[str | None] = [None] * n
        self.error_message: list[str | None] = [None] * n
        self.duration_ms: list[float] = [0.0] * n
        self.run_id: list[int | None] = [None] * n

    def put(self, pos: int, result: ActionResult) -> None:
        self.success[pos] = result.success
        self.text[pos] = result.text
        self.data[pos] = result.data
        if result.error is not None:
            self.error_code[pos] = result.error.code
            self.error_message[pos] = result.error.message
        self.duration_ms[pos] = result.duration_ms
        self.run_id[pos] = result.run_id

    def fail(self, pos: int, code: str, message: str) -> None:
        """A row that never ran (its input could not become a message): no run_id."""
        self.success[pos] = False
        self.error_code[pos] = code
        self.error_message[pos] = message

    def paste(self, start: int, part: BatchRows, run_ids: list[int | None]) -> None:
        """Copy a partition's rows to ``start:``, with its run ids renumbered."""
        stop = start + len(part.success)
        for name in ("success", "text", "data", "error_code", "error_message", "duration_ms"):
            getattr(self, name)[start:stop] = getattr(part, name)
        self.run_id[start:stop] = run_ids


class RunControl:
    """Stops a batch: a flag the workers check before each input, and the tasks to cancel."""

    __slots__ = ("loop", "stopped", "tasks")

    def __init__(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.stopped = False
        self.tasks: list[asyncio.Future[Any]] = []

    def stop(self) -> None:
        self.stopped = True
        for task in self.tasks:
            task.cancel()

    def stop_from_signal(self) -> None:
        self.stopped = True  # seen at once by a worker that never suspends
        self.loop.call_soon_threadsafe(self.stop)

    async def wait(self) -> bool:
        """Wait for the tasks; on cancellation (ours or theirs) stop them all. True if stopped."""
        try:
            await asyncio.gather(*self.tasks)
        except asyncio.CancelledError:
            self.stop()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            task = asyncio.current_task()
            if task is not None and task.cancelling():
                task.uncancel()  # the cancellation is answered: we return the rows done
            return True
        except BaseException:
            self.stop()
            await asyncio.gather(*self.tasks, return_exceptions=True)
            raise
        return self.stopped


@contextlib.contextmanager
def interrupt_stops(control: RunControl) -> Iterator[None]:
    """While inside, the first SIGINT (Ctrl-C, the notebook's stop button) stops ``control``.

    Installed only in the main thread over Python's default handler; the previous handler is
    put back on exit. A second SIGINT raises ``KeyboardInterrupt`` as usual.
    """
    in_main = threading.current_thread() is threading.main_thread()
    if not in_main or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if control.stopped:
            raise KeyboardInterrupt
        control.stop_from_signal()

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class NoBar:
    """A progress bar that draws nothing (``progress=False``, Dask workers)."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass


def progress_bar(total: int, enabled: bool, desc: str) -> Any:
    """A ``tqdm.auto`` bar (a widget in notebooks, text in terminals), or a no-op one."""
    if not enabled:
        return NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="row", dynamic_ncols=True)


async def _worker(
    runtime: AgentRuntime,
    action: Action,
    plugin: str,
    rows: Iterator[tuple[int, Any, Any]],
    out: BatchRows,
    timeout: float | None,
    room_id: str | None,
    bar: Any,
    control: RunControl,
) -> None:
    to_memory, mask, run = runtime.to_memory, runtime.settings.masker.mask, runtime.dispatcher.run
    for done, (pos, message, options) in enumerate(rows, 1):
        if control.stopped:
            return
        try:
            if isinstance(message, ElizaError):
                raise message
            msg = to_memory(message, room_id=room_id)
        except ElizaError as exc:
            out.fail(pos, exc.code, mask(exc.message))
        else:
            out.put(pos, await run(action, plugin, msg, options=options, timeout=timeout))
        bar.update(1)
        if done % _YIELD_EVERY == 0:
            await asyncio.sleep(0)


async def run_rows(
    runtime: AgentRuntime,
    action: Action,
    plugin: str,
    inputs: BatchInputs,
    *,
    concurrency: int,
    timeout: float | None,
    room_id: str | None,
    bar: Any,
) -> tuple[BatchRows, bool]:
    """Run every input through a pool of ``concurrency`` workers; (rows, interrupted)."""
    out = BatchRows(len(inputs))
    rows = inputs.rows()
    control = RunControl()
    control.tasks = [
        asyncio.ensure_future(
            _worker(runtime, action, plugin, rows, out, timeout, room_id, bar, control)
        )
        for _ in range(min(concurrency, len(inputs)))
    ]
    with interrupt_stops(control):
        interrupted = await control.wait()
    return out, interrupted


def _check_args(concurrency: int, timeout: float | None, backend: str) -> None:
    if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
        raise ValidationError(
            f"concurrency must be a positive int, got {shown(concurrency)}", field="concurrency"
        )
    check_timeout(timeout)
    if backend not in BACKENDS:
        raise ValidationError(
            f"backend must be one of {', '.join(BACKENDS)}, got {shown(backend)}", field="backend"
        )


async def run_batch(
    runtime: AgentRuntime,
    action: str,
    inputs: Any,
    *,
    concurrency: int = 16,
    timeout: float | None = None,
    progress: bool = True,
    text_column: str = "text",
    option_columns: Sequence[str] | None = None,
    backend: str = "local",
    client: Any = None,
    room_id: str | None = None,
    partitions: int | None = None,
) -> pd.DataFrame:
    """Run one action over many inputs; one result row per input, in input order.

    Args:
        runtime: The runtime whose registered action runs (and where the runs are recorded).
        action: The action's name or simile.
        inputs: A list of texts, a list of dicts (text under ``text_column``, other keys are
            options), a Series of texts, or a DataFrame (``text_column`` and ``option_columns``).
        concurrency: How many runs are in flight at once (per partition for ``"dask"``).
        timeout: Seconds each run may take (``TIMEOUT`` rows beyond); default: the action's.
        progress: Show a ``tqdm.auto`` progress bar.
        text_column, option_columns: Where a DataFrame's or a dict's text and options are.
        backend: ``"local"`` (this process) or ``"dask"`` (see :mod:`eliza_nb.distributed`).
        client: The ``distributed.Client`` for ``backend="dask"``.
        room_id: The room of every message (default ``"default"``).
        partitions: For ``"dask"``: how many pieces the inputs are cut into.

    Returns:
        A DataFrame indexed like the input (``0..n-1`` for a list), so ``inputs.join(results)``
        works; ``results.reset_index()`` gives positions, the labels in an ``index`` column.
        Columns (:data:`BATCH_COLUMNS`): ``success``, ``text``, ``data``, ``error_code``,
        ``error_message``, ``duration_ms``, ``run_id`` (nullable: an input that could not become
        a message never ran). ``attrs`` holds ``action``, ``total`` and ``interrupted``; after an
        interrupt only the finished rows are there (see the module docstring).

    Raises:
        ActionNotFoundError: no action has that name (raised before anything runs).
        ValidationError: bad ``inputs``, columns, ``concurrency``, ``timeout`` or ``backend``.
    """
    _check_args(concurrency, timeout, backend)
    act, plugin = runtime.dispatcher.find(action)
    batch = BatchInputs.from_inputs(inputs, text_column, option_columns)
    if backend == "dask":
        from eliza_nb.distributed import run_dask

        spread = {"client": client, "progress": progress, "partitions": partitions}
        return await run_dask(
            runtime,
            act.name,
            batch,
            concurrency=concurrency,
            timeout=timeout,
            room_id=room_id,
            **spread,
        )
    return await _run_here(runtime, act, plugin, batch, concurrency, timeout, room_id, progress)


async def _run_here(
    runtime: AgentRuntime,
    action: Action,
    plugin: str,
    batch: BatchInputs,
    concurrency: int,
    timeout: float | None,
    room_id: str | None,
    progress: bool,
) -> pd.DataFrame:
    """``run_batch`` in this process, with a progress bar."""
    bar = progress_bar(len(batch), progress, action.name)
    try:
        out, interrupted = await run_rows(
            runtime,
            action,
            plugin,
            batch,
            concurrency=concurrency,
            timeout=timeout,
            room_id=room_id,
            bar=bar,
        )
    finally:
        bar.close()
    return to_frame(batch.labels, out, action=action.name, interrupted=interrupted)


def to_frame(labels: Any, out: BatchRows, *, action: str, interrupted: bool) -> pd.DataFrame:
    """The result frame of a batch: finished rows only, in input order."""
    import numpy as np
    import pandas as pd

    total = len(out.success)
    keep: list[int] | None = None
    if None in out.success:
        keep = [i for i, s in enumerate(out.success) if s is not None]
        interrupted = True

    def pick(values: list[Any]) -> list[Any]:
        return values if keep is None else [values[i] for i in keep]

    # The input's own Index (pd.Index() would flatten a MultiIndex into tuples).
    index = pd.RangeIndex(total) if labels is None else labels
    ids = np.fromiter((-1 if r is None else r for r in pick(out.run_id)), dtype=np.int64)
    data = {  # Series all on a fresh RangeIndex; object dtype keeps None as None
        "success": np.fromiter(pick(out.success), dtype=bool),
        "text": pd.Series(pick(out.text), dtype=object),
        "data": pd.Series(pick(out.data), dtype=object),
        "error_code": pd.Series(pick(out.error_code), dtype=object),
        "error_message": pd.Series(pick(out.error_message), dtype=object),
        "duration_ms": np.fromiter(pick(out.duration_ms), dtype=np.float64),
        "run_id": pd.arrays.IntegerArray(ids, ids < 0),
    }
    frame = pd.DataFrame(data, columns=list(BATCH_COLUMNS))
    frame.index = index if keep is None else index[keep]  # aligned with the input's rows
    frame.attrs.update(action=action, total=total, interrupted=interrupted)
    report(frame)
    return frame


def report(frame: pd.DataFrame) -> None:
    """Log the one summary line of a batch, when rows failed or it was interrupted.

    The one place a batch speaks: each failed row is already in the frame (and in
    ``errors_frame()``), so a batch logs at most one line, a WARNING under ``eliza_nb.batch``.
    A log record rather than ``warnings.warn``: failed rows are data, not a misuse the caller
    should fix (the logging HOWTO's rule), and a warning is shown once per place in the code,
    so the second failing batch of a session would say nothing. It is printed where logging is
    configured or a debug mode was set (``%eliza debug``); otherwise it goes nowhere.
    """
    attrs, failed = frame.attrs, frame["error_code"][~frame["success"]]
    if not attrs["interrupted"] and failed.empty:
        return
    done = len(frame)
    line = f"run_batch {attrs['action']}: "
    if attrs["interrupted"]:
        line += f"interrupted, {done:,} of {attrs['total']:,} inputs done; "
    line += f"{len(failed):,} of {done:,} rows failed"
    if not failed.empty:
        counts = failed.fillna("?").value_counts()
        line += " (" + ", ".join(f"{code} {n:,}" for code, n in counts.items()) + ")"
        line += "; see the result's error_code and error_message columns"
    log.warning("%s", line)
