"""The dashboard's views of a session's runs: tables for people and two PNG charts.

What :class:`eliza_nb.kernel.dashboard.Dashboard` draws, kept apart from the widget (no
IPython, no ipywidgets) so it is tested and reused on its own:

- :func:`summary_html`: per action, runs, failures, failure rate and latency percentiles;
- :func:`errors_html`: errors grouped by code, with their count, the last time, the action
  and the latest message;
- :func:`latency_png`: the latency distribution per action (a box over the runs' points);
- :func:`runs_png`: runs over time, failed ones stacked in red on the others.

Numbers are rounded for people (``_human``); the frames they read keep full precision. The
charts are matplotlib PNGs drawn with the object API (no pyplot, no global figure), so they
show in JupyterLab, Voila and a saved notebook alike.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from eliza_nb import _human
from eliza_nb._html_table import Column, table_html

if TYPE_CHECKING:
    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "CHART_ACTIONS",
    "errors_by_code",
    "errors_html",
    "failed_count",
    "latency_png",
    "runs_png",
    "summary_html",
]

#: The latency chart shows at most this many actions (those with the most runs).
CHART_ACTIONS = 12
#: A latest message longer than this is cut in the errors table (the whole is its tooltip).
MESSAGE_CHARS = 120
_BUCKETS_S = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)
_MAX_BARS = 40
_OK, _FAILED = "#4c78a8", "#c62828"

_SUMMARY = (
    Column("action"),
    Column("runs", True, lambda n: f"{n:,}"),
    Column("failed", True, lambda n: f"{n:,}"),
    Column("failure rate", True, _human.percent),
    Column("p50 (ms)", True, _human.ms),
    Column("p95 (ms)", True, _human.ms),
    Column("max (ms)", True, _human.ms),
)
_ERRORS = (
    Column("code"),
    Column("count", True, lambda n: f"{n:,}"),
    Column("last seen", False, _human.when),
    Column("action"),
    Column("latest message"),
)


def summary_html(summary: pd.DataFrame) -> str:
    """A ``metrics_summary()`` frame as a table: runs, failures, failure rate, p50/p95/max."""
    rows = [
        (
            r["action"],
            r["runs"],
            r["failures"],
            1 - r["success_rate"],
            r["p50_ms"],
            r["p95_ms"],
            r["max_ms"],
        )
        for r in summary.to_dict("records")
    ]
    return table_html(_SUMMARY, rows)


def errors_by_code(errors: pd.DataFrame) -> pd.DataFrame:
    """An ``errors_frame()`` grouped by code, most frequent first: ``code, count, last_seen,
    action, message`` (the action and message of the latest error of that code)."""
    import pandas as pd

    if errors.empty:
        return pd.DataFrame(columns=["code", "count", "last_seen", "action", "message"])
    ordered = errors.sort_values("timestamp", kind="stable")
    grouped = ordered.groupby("code", sort=False)
    latest = grouped.tail(1).set_index("code")
    out = pd.DataFrame(
        {
            "count": grouped.size(),
            "last_seen": latest["timestamp"],
            "action": latest["action"],
            "message": latest["message"],
        }
    )
    out = out.rename_axis("code").reset_index()
    return out.sort_values(["count", "last_seen"], ascending=False, kind="stable")


def _message(text: Any) -> tuple[str, str]:
    """A message on one line, cut at ``MESSAGE_CHARS``; the whole (first 2,000) as tooltip."""
    line = " ".join(str(text).split())
    shown = line if len(line) <= MESSAGE_CHARS else line[: MESSAGE_CHARS - 1] + "…"
    return shown, line[:2000]


def errors_html(grouped: pd.DataFrame) -> str:
    """The table of :func:`errors_by_code`."""
    rows = [
        (r.code, r.count, r.last_seen, r.action, _message(r.message))
        for r in grouped.itertuples(index=False)
    ]
    return table_html(_ERRORS, rows)


# -- charts ---------------------------------------------------------------------------------
def _figure(width: float, height: float) -> Figure:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    fig.set_facecolor("white")
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _style(ax: Axes) -> None:
    ax.spines[["top", "right"]].set_visible(False)
    ax.tick_params(labelsize=8)
    ax.grid(axis="x", color="#eee", linewidth=0.8)
    ax.set_axisbelow(True)


def latency_png(metrics: pd.DataFrame) -> bytes:
    """Each action's latencies: a box (quartiles, whiskers to 1.5 IQR) over its runs' points.

    The axis turns logarithmic when the slowest run is a hundred times the fastest; at most
    :data:`CHART_ACTIONS` actions (those with the most runs) are drawn.
    """
    import numpy as np

    names = list(metrics["action"].value_counts().index[:CHART_ACTIONS])[::-1]
    samples = [metrics.loc[metrics["action"] == n, "duration_ms"].to_numpy() for n in names]
    fig = _figure(4.6, 0.9 + 0.32 * len(names))
    ax = fig.subplots()
    ax.boxplot(samples, widths=0.5, showfliers=False, medianprops={"color": "#222"}, **_sideways())
    ax.set_yticks(range(1, len(names) + 1), names)
    rng = np.random.default_rng(0)  # the same jitter on every redraw: the points stay put
    for i, values in enumerate(samples, start=1):
        jitter = rng.uniform(-0.15, 0.15, len(values))
        ax.plot(values, i + jitter, "o", ms=2.5, alpha=0.5, color=_OK, mec="none")
    _latency_axis(ax, np.concatenate(samples))
    ax.set_title("latency per action", fontsize=9, loc="left")
    return _png(fig)


def _sideways() -> dict[str, Any]:
    """Boxes along the x axis: ``orientation`` since matplotlib 3.10, ``vert`` before it."""
    import matplotlib

    if matplotlib.__version_info__ >= (3, 10):
        return {"orientation": "horizontal"}
    return {"vert": False}


def _latency_axis(ax: Axes, values: Any) -> None:
    from matplotlib.ticker import FuncFormatter

    low, high = float(values.min()), float(values.max())
    if low > 0 and high / low > 100:
        ax.set_xscale("log")
    ax.margins(x=0.08)  # a lone point, or the fastest run, is never drawn on the frame
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,g}"))  # 0.001, 0.25, 1,000
    ax.set_xlabel("ms", fontsize=8)
    _style(ax)


def _bucket(span_s: float) -> int:
    """The narrowest bucket (seconds) that splits ``span_s`` into at most ``_MAX_BARS`` bars."""
    return next((b for b in _BUCKETS_S if span_s / b <= _MAX_BARS), _BUCKETS_S[-1])


def _bucket_label(seconds: int) -> str:
    for unit, size in (("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def runs_png(metrics: pd.DataFrame) -> bytes:
    """Runs per time bucket (1 s to a day, at most 40 bars), failures stacked in red."""
    import numpy as np

    started = metrics["started_at"].dt.tz_convert(None)  # UTC, naive: matplotlib's dates
    epoch = started.astype("int64").to_numpy() / 1e9
    width = _bucket(float(epoch.max() - epoch.min()))
    slot = np.floor(epoch / width) * width
    failed = ~metrics["success"].to_numpy(dtype=bool)
    slots = np.unique(slot)
    ok_n = np.array([np.sum((slot == s) & ~failed) for s in slots])
    bad_n = np.array([np.sum((slot == s) & failed) for s in slots])
    fig = _figure(4.6, 2.2)
    ax = fig.subplots()
    _bars(ax, slots, width, ok_n, bad_n)
    ax.set_title(f"runs per {_bucket_label(width)} (UTC)", fontsize=9, loc="left")
    return _png(fig)


def _bars(ax: Axes, slots: Any, width: int, ok_n: Any, bad_n: Any) -> None:
    import matplotlib.dates as mdates
    import numpy as np
    from matplotlib.ticker import MaxNLocator

    days = mdates.date2num(slots.astype("datetime64[s]"))  # type: ignore[no-untyped-call]
    bar = width / 86400 * 0.85
    ax.bar(days, ok_n, width=bar, align="edge", color=_OK, label="ok")
    if bad_n.any():
        ax.bar(days, bad_n, bottom=ok_n, width=bar, align="edge", color=_FAILED, label="failed")
        # Above the plot, right of the title: never over a bar.
        ax.legend(fontsize=7, frameon=False, loc="lower right", bbox_to_anchor=(1, 1), ncols=2)
    step = width / 86400
    ax.set_xlim(days.min() - step, days.max() + 2 * step)  # a lone bar stands clear
    ax.set_ylim(0, max(1, int(np.max(ok_n + bad_n))) * 1.15)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # runs are whole: no 0.5 ticks
    # matplotlib.dates has no type hints: its calls are untyped.
    locator = mdates.AutoDateLocator(minticks=3, maxticks=6)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_locator(locator)
    concise = mdates.ConciseDateFormatter(locator)  # type: ignore[no-untyped-call]
    ax.xaxis.set_major_formatter(concise)
    ax.xaxis.get_offset_text().set_fontsize(7)
    _style(ax)
    ax.grid(axis="y", color="#eee", linewidth=0.8)
    ax.grid(axis="x", visible=False)


def failed_count(tally: Sequence[tuple[Any, int]]) -> int:
    """How many runs of a ``run_tally().items()`` failed."""
    return sum(n for (_, success, _), n in tally if not success)
