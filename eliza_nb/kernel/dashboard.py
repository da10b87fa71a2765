"""The live metrics dashboard: what a person keeps open beside the cells that run actions.

Per action, runs, failures, failure rate and latency percentiles (a bordered table); the
latency distribution per action and the runs over time (two matplotlib PNGs in stock
``Image`` widgets, so they show in JupyterLab, Voila and a saved notebook); the errors grouped
by code with their count and latest message. The views are drawn by
:mod:`eliza_nb.metrics_views`; this module keeps them live without slowing the runtime.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
import weakref
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ipywidgets as widgets

from eliza_nb import _human, frames, metrics_views
from eliza_nb.kernel._outputs import Callbacks, show_failure

if TYPE_CHECKING:
    from eliza_nb.records import MetricsRecorder
    from eliza_nb.runtime import AgentRuntime
    from eliza_nb.types import ActionResult

__all__ = ["LOAD_FACTOR", "PLOT_RUNS", "REDRAW_INTERVAL", "Dashboard", "kernel_dashboard"]

#: Seconds between two redraws of a dashboard, at least.
REDRAW_INTERVAL = 0.5
#: A redraw that took t seconds is followed by none for LOAD_FACTOR * t: redrawing (two PNG
#: charts, ~0.1-0.3 s) takes at most 1 / (LOAD_FACTOR + 1) of the kernel's time.
LOAD_FACTOR = 19
#: How many of the newest runs the dashboard's charts show.
PLOT_RUNS = 2_000

_TITLE = (
    "<div style='font-family:sans-serif;font-size:13px;font-weight:600;margin:8px 0 2px'>{}</div>"
)


def _chart() -> widgets.Image:
    # Shown at its own size: stretched to the page width the PNG would look blurry.
    return widgets.Image(format="png", layout={"max_width": "100%", "margin": "0 12px 0 0"})


class Dashboard(widgets.VBox):  # type: ignore[misc]
    """The runtime's runs per action, their latencies over time and its errors, kept live.

    It reads this session's runs held in memory (all of them without a file store, the newest
    ``RECORDS_IN_MEMORY`` with one). A run only marks it out of date; it redraws a loop step
    later, at most once every ``interval`` seconds and never more than a twentieth of the time
    (a slow redraw waits 19 times its own length), so a batch costs one redraw per interval,
    not one per run, and no run waits for one. Without a running event loop it redraws at the
    first run after the interval.

    The runtime holds it weakly: a dashboard that is closed (``close()``) or garbage-collected
    stops listening. ``%eliza dashboard`` closes the dashboard it made before. A failure while
    drawing is shown in its output area (code and message, the traceback folded).

    Example:
        >>> dashboard = Dashboard(runtime)        # or %eliza dashboard
        >>> dashboard.refresh()                   # what the Refresh button does
    """

    def __init__(
        self, runtime: AgentRuntime, *, errors: int = 5, interval: float = REDRAW_INTERVAL
    ) -> None:
        self.runtime = runtime
        #: How many error codes the errors table lists (the most frequent).
        self.max_errors = errors
        self.status = widgets.HTML()
        self.summary = widgets.HTML()
        self.latency = _chart()
        self.timeline = _chart()
        self.charts = widgets.HBox(
            [self.latency, self.timeline],
            layout={"flex_flow": "row wrap", "align_items": "flex-start"},
        )
        self.errors = widgets.HTML()
        self.refresh_button = widgets.Button(description="Refresh", icon="refresh")
        self.output = widgets.Output()
        self._top = widgets.HBox(
            [self.refresh_button, self.status], layout={"align_items": "center"}
        )
        super().__init__(children=[self._top, self.summary, self.charts, self.errors, self.output])
        self._on_refresh = Callbacks(self.output)
        # The run listener: a run only marks the dashboard out of date (it redraws later).
        self._throttle = _Throttle(self._redraw, interval, runtime.run_listeners)
        self.refresh_button.on_click(lambda _: self.refresh())
        self.refresh()

    def on_refresh(self, fn: Callable[[Dashboard], Any], remove: bool = False) -> None:
        """Call ``fn(dashboard)`` after every refresh."""
        self._on_refresh.register(fn, remove)

    def refresh(self) -> None:
        """Redraw the summary, charts and errors from the runtime's records now."""
        self._throttle.run()

    def _redraw(self) -> None:
        try:
            self._draw()
        except Exception as exc:
            show_failure(self.output, exc)
        self._on_refresh(self)

    def _draw(self) -> None:
        held = self.runtime.metrics.recent()  # this session's newest records: no I/O, no flush
        runs, session = held.runs, held.session_id
        summary = frames.metrics_summary(runs)
        table = metrics_views.summary_html(summary) if runs else "<i>No runs yet.</i>"
        self.summary.value = _TITLE.format("Per action") + table
        grouped = metrics_views.errors_by_code(frames.errors_frame(held.errors, session))
        listed = metrics_views.errors_html(grouped.head(self.max_errors))
        self.errors.value = _TITLE.format("Errors by code") + (
            listed if len(grouped) else "<i>None.</i>"
        )
        self._draw_charts(frames.metrics_frame(runs[-PLOT_RUNS:], session) if runs else None)
        self.status.value = _status(self.runtime.metrics, len(runs))

    def _draw_charts(self, plotted: Any) -> None:
        shown = plotted is not None
        self.charts.layout.display = None if shown else "none"
        self.latency.value = metrics_views.latency_png(plotted) if shown else b""
        self.timeline.value = metrics_views.runs_png(plotted) if shown else b""

    def close(self) -> None:
        """Stop following the runtime and close the widget and its parts (idempotent)."""
        # Also called by ipywidgets' __del__, maybe of a dashboard whose __init__ failed.
        throttle = getattr(self, "_throttle", None)
        if throttle is not None:
            throttle.detach()
        for box in (getattr(self, "_top", None), getattr(self, "charts", None)):
            for child in getattr(box, "children", ()):
                child.close()
        for child in self.children:
            child.close()
        super().close()


def _status(recorder: MetricsRecorder, held: int) -> str:
    """ "2 runs, 1 failed · updated 07:01:25", saying when the summary covers only the newest."""
    total = recorder.run_count
    failed = metrics_views.failed_count(list(recorder.run_tally().items()))
    line = _human.count(total, "run") + (f", {failed:,} failed" if failed else "")
    if held < total:
        line += f" · summary of the newest {held:,}"
    return f"<small>{line} · updated {datetime.now():%H:%M:%S}</small>"


class _Throttle:
    """A run listener that calls ``fn`` a loop step after a run, at most once per ``interval``
    seconds and no sooner than ``LOAD_FACTOR`` times its last duration after it ended (so at
    most a twentieth of the time).

    It takes its place in ``listeners``. A run while a call is due costs one attribute test.
    The call is scheduled on the running loop; without one, a run after the due time calls at
    once. ``fn`` (a bound method) is held weakly: once its object is garbage-collected, the
    throttle leaves ``listeners`` by itself (and :meth:`detach` makes it leave).
    """

    __slots__ = ("__weakref__", "_fn", "_handle", "_listeners", "_loop", "_next", "interval")

    def __init__(
        self,
        fn: Callable[[], None],
        interval: float,
        listeners: list[Callable[[ActionResult], Any]],
    ) -> None:
        self._fn = weakref.WeakMethod(fn, lambda _: self.detach())
        self.interval = interval
        self._handle: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._next = -math.inf  # when (on the clock of _now) the next call may start
        self._listeners = listeners
        listeners.append(self)

    def __call__(self, result: ActionResult | None) -> None:
        """A run finished: ask for a call, unless one is already due on a live loop."""
        loop = self._loop
        if self._handle is not None and loop is not None and not loop.is_closed():
            return
        loop = _running_loop()
        delay = self._next - _now(loop)
        if loop is None:
            self._handle = None
            if delay <= 0:
                self.run()
            return
        self._loop = loop
        self._handle = loop.call_later(max(0.0, delay), self._due)

    def _due(self) -> None:
        self._handle = None
        self.run()

    def run(self) -> None:
        """Call ``fn`` now (a scheduled call is dropped) and note when the next may start."""
        self.cancel()
        fn = self._fn()
        if fn is None:
            return
        loop = _running_loop()
        started = _now(loop)
        try:
            fn()
        finally:
            ended = _now(loop)
            self._next = ended + max(self.interval, LOAD_FACTOR * (ended - started))

    def cancel(self) -> None:
        """Drop the scheduled call, if any."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def detach(self) -> None:
        """Leave the listener list and drop the scheduled call (idempotent)."""
        self.cancel()
        with contextlib.suppress(ValueError):
            self._listeners.remove(self)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _now(loop: asyncio.AbstractEventLoop | None) -> float:
    """The clock the loop's timers use (monotonic seconds), or the monotonic clock."""
    return time.monotonic() if loop is None else loop.time()


def kernel_dashboard(runtime: AgentRuntime) -> Dashboard:
    """A new :class:`Dashboard` for ``%eliza dashboard``; the one this made before is closed.

    Re-running the cell replaces its output; the replaced widget would otherwise live on (the
    widget registry and ``Out`` hold it) and keep redrawing after every run.
    """
    previous = _SHOWN[0]() if _SHOWN else None
    if previous is not None:
        previous.close()
    dashboard = Dashboard(runtime)
    _SHOWN[:] = [weakref.ref(dashboard)]
    return dashboard


#: The dashboard ``kernel_dashboard`` made last (held weakly).
_SHOWN: list[weakref.ref[Dashboard]] = []
