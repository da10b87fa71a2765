"""How results, plugins, state, the runtime and its records look: HTML cards, text and a plot.

The ``_repr_html_`` of ``ActionResult``, ``State``, ``Plugin`` and ``AgentRuntime`` and the
notebook widgets draw with these functions. Every text is escaped: nothing from a message or a
handler reaches the page unescaped, so no script runs from them.

This module sits below everything it draws: it imports neither IPython nor ipywidgets, and
none of the classes it draws either (each function takes the protocol of what it reads), so
the modules whose ``_repr_html_`` call it never import it back.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence, Sized
from html import escape
from typing import TYPE_CHECKING, Any, Protocol

from eliza_nb import _html_table, _human
from eliza_nb._html_table import frame_table
from eliza_nb._tracebacks import traceback_details

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "CARD_TEXT_LIMIT",
    "ActionInfo",
    "PluginParts",
    "Result",
    "RuntimeView",
    "StateView",
    "action_info_html",
    "durations_png",
    "frame_html",
    "frame_text",
    "history_html",
    "plugin_html",
    "plugin_text",
    "result_html",
    "runtime_html",
    "state_html",
    "state_text",
]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


class _Said(Protocol):  # a Content
    @property
    def text(self) -> str: ...


class _Error(Protocol):  # an ErrorInfo
    @property
    def code(self) -> str: ...
    @property
    def message(self) -> str: ...
    @property
    def traceback(self) -> str: ...


class Result(Protocol):
    """What the result card and the run history read of an ``ActionResult``."""

    @property
    def run_id(self) -> int: ...
    @property
    def action(self) -> str: ...
    @property
    def plugin(self) -> str: ...
    @property
    def success(self) -> bool: ...
    @property
    def text(self) -> str | None: ...
    @property
    def data(self) -> Any: ...
    @property
    def values(self) -> dict[str, Any]: ...
    @property
    def trace_id(self) -> str | None: ...
    @property
    def responses(self) -> Sequence[_Said]: ...
    @property
    def error(self) -> _Error | None: ...
    @property
    def error_code(self) -> str | None: ...
    @property
    def duration_ms(self) -> float: ...


class ActionInfo(Protocol):
    """What the action runner shows of an ``Action``."""

    @property
    def description(self) -> str: ...
    @property
    def similes(self) -> Sequence[str]: ...


class PluginParts(Protocol):
    """What the plugin card reads of a ``Plugin``."""

    @property
    def name(self) -> str: ...
    @property
    def version(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def actions(self) -> Sequence[_Named]: ...
    @property
    def providers(self) -> Sequence[_Named]: ...
    @property
    def evaluators(self) -> Sequence[_Named]: ...
    @property
    def services(self) -> Sequence[Any]: ...  # Service classes or instances


class StateView(Protocol):
    """What the state card reads of a ``State``."""

    @property
    def values(self) -> Mapping[str, Any]: ...
    @property
    def actions(self) -> Sequence[str]: ...
    @property
    def recent_messages(self) -> Sized: ...
    def mask(self, text: str) -> str: ...


class _Runs(Protocol):  # a MetricsRecorder
    def run_tally(self) -> Mapping[tuple[Any, Any, Any], int]: ...  # (action, success, code)


class _Plugins(Protocol):  # a Registry
    @property
    def plugins(self) -> Iterable[str]: ...
    def action_names(self) -> list[str]: ...


class RuntimeView(Protocol):
    """What the runtime card reads of an ``AgentRuntime``."""

    @property
    def agent_id(self) -> str: ...
    @property
    def metrics(self) -> _Runs: ...
    @property
    def registry(self) -> _Plugins: ...


_CARD = (
    "<div class='eliza-card' style='border:1px solid #ccc;border-radius:6px;padding:6px 10px;"
    "margin:4px 0;font-family:sans-serif;font-size:13px;line-height:1.45'>{}</div>"
)
_BADGE = "<span style='background:{};color:white;border-radius:4px;padding:1px 6px'>{}</span>"


def _badge(ok: bool, label: str) -> str:
    return _BADGE.format("#2e7d32" if ok else "#c62828", escape(label))


def _row(label: str, value: Any) -> str:
    return f"<div><b>{escape(label)}</b>: {escape(str(value))}</div>"


def _lines(label: str, text: str) -> str:
    """A row whose text keeps its line breaks (INVALID_PARAMETERS: one line per field)."""
    return f"<div style='white-space:pre-wrap'><b>{escape(label)}</b>: {escape(text)}</div>"


#: A card shows this many characters of a text, a response or the data; the rest is folded in
#: a "show all" ``<details>`` (a 12,000-character reply would fill the screen otherwise).
CARD_TEXT_LIMIT = 600
_SHOW_ALL = (
    "<details style='margin:2px 0'><summary style='cursor:pointer;color:#555'>{}</summary>"
    "{}</details>"
)


def _cut(text: str) -> str:
    """``text`` escaped; past :data:`CARD_TEXT_LIMIT` characters, the rest folded under a
    "show all" summary (still escaped, so the page holds the whole text)."""
    if len(text) <= CARD_TEXT_LIMIT:
        return escape(text)
    head, rest = text[:CARD_TEXT_LIMIT], text[CARD_TEXT_LIMIT:]
    label = f"… show all {len(text):,} characters"
    return escape(head) + _SHOW_ALL.format(escape(label), escape(rest))


def _long_row(label: str, value: Any) -> str:
    """A row of a card whose value may be long: cut at :data:`CARD_TEXT_LIMIT`."""
    return f"<div style='white-space:pre-wrap'><b>{escape(label)}</b>: {_cut(str(value))}</div>"


def _error_rows(error: _Error) -> str:
    """The error in one line (code and message) over the handler's frames of its traceback."""
    details = traceback_details(getattr(error, "traceback", "") or "")
    return _lines(f"error {error.code}", error.message) + details


def _head(result: Result) -> str:
    """The card's first line: action, plugin, badge, duration and run number."""
    badge = _badge(result.success, "success" if result.success else (result.error_code or "failed"))
    took = _human.duration(result.duration_ms)
    return (
        f"<div><b>{escape(result.action)}</b> <small>({escape(result.plugin)})</small> {badge}"
        f" <small>{took} · run {result.run_id}</small></div>"
    )


def result_html(result: Result) -> str:
    """A card: action, success badge, text, responses, duration and error code.

    A text, response or data longer than :data:`CARD_TEXT_LIMIT` characters is cut, with a
    "show all" fold holding the rest; a failure shows its code and message on one line and
    the handler's own frames of its traceback folded under it (``eliza_nb._tracebacks``).
    """
    parts = [_head(result)]
    if result.text is not None:
        parts.append(_long_row("text", result.text))
    if result.values:
        parts.append(_long_row("values", result.values))
    if result.data is not None:
        parts.append(_long_row("data", result.data))
    if result.responses:
        items = "".join(f"<li>{_cut(c.text)}</li>" for c in result.responses)
        parts.append(
            f"<div><b>responses</b><ul style='margin:2px 0;white-space:pre-wrap'>{items}</ul></div>"
        )
    if result.error is not None:
        parts.append(_error_rows(result.error))
    if result.trace_id is not None:  # the way to its timeline, in the words a cell takes
        trace = escape(result.trace_id)
        parts.append(f"<div><small>trace <code>%eliza trace {trace}</code></small></div>")
    return _CARD.format("".join(parts))


def _plugin_parts(plugin: PluginParts) -> list[tuple[str, str]]:
    """(kind, comma-separated names) for each kind of part the plugin has."""
    services = [getattr(s, "service_type", "?") for s in plugin.services]  # class or instance
    kinds = (
        ("actions", [a.name for a in plugin.actions]),
        ("providers", [p.name for p in plugin.providers]),
        ("evaluators", [e.name for e in plugin.evaluators]),
        ("services", services),
    )
    return [(label, ", ".join(names)) for label, names in kinds if names]


def plugin_html(plugin: PluginParts) -> str:
    """A card: name, version, description, and its parts."""
    parts = [f"<div><b>{escape(plugin.name)}</b> <small>v{escape(plugin.version)}</small></div>"]
    if plugin.description:
        parts.append(f"<div>{escape(plugin.description)}</div>")
    parts += [_row(label, names) for label, names in _plugin_parts(plugin)]
    return _CARD.format("".join(parts))


def state_html(state: StateView) -> str:
    """A card: provider values, the usable actions and the recent messages."""
    parts = [_long_row(k, state.mask(str(v))) for k, v in state.values.items()]  # mask, escape
    parts.append(_row("actions", ", ".join(state.actions) or "none"))
    parts.append(_row("recent messages", len(state.recent_messages)))
    return _CARD.format("".join(parts))


def runtime_html(runtime: RuntimeView) -> str:
    """A card: agent, plugins and run counts."""
    tally = runtime.metrics.run_tally()  # every run of the session, held in memory or not
    failures = sum(n for (_, success, _), n in tally.items() if not success)
    parts = [
        f"<div><b>AgentRuntime</b> · agent {escape(runtime.agent_id)}</div>",
        _row("plugins", ", ".join(runtime.registry.plugins) or "none"),
        _row("actions", ", ".join(runtime.registry.action_names()) or "none"),
        _row("runs", f"{sum(tally.values())} ({failures} failed)"),
    ]
    return _CARD.format("".join(parts))


def action_info_html(action: ActionInfo | None, parameters: str = "") -> str:
    """What the action runner shows under its dropdown: description, similes and, for a typed
    action, its parameters (``describe_parameters``) and what the form's ``*`` means."""
    if action is None:
        return "<i>No actions registered: %eliza register a plugin, then refresh.</i>"
    similes = ", ".join(action.similes) or "none"
    typed = f"<br>parameters: {escape(parameters)} (* required)" if parameters else ""
    return (
        f"<div><small>{escape(action.description or 'no description')}"
        f" · similes: {escape(similes)}{typed}</small></div>"
    )


def history_html(results: Sequence[Result]) -> str:
    """A small table of runs, newest first: run, action, badge, duration, text."""
    if not results:
        return ""
    rows = "".join(
        f"<tr><td>{r.run_id}</td><td>{escape(r.action)}</td>"
        f"<td>{_badge(r.success, 'ok' if r.success else (r.error_code or 'failed'))}</td>"
        f"<td style='text-align:right'>{_human.duration(r.duration_ms)}</td>"
        f"<td>{escape(_short(r.text or ''))}</td></tr>"
        for r in reversed(results)
    )
    return (
        f"<table style='font-size:12px'><tr><th>run</th><th>action</th><th></th>"
        f"<th>duration</th><th>text</th></tr>{rows}</table>"
    )


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def frame_text(frame: pd.DataFrame, empty: str) -> str:
    """A DataFrame as aligned plain text for people (rounded as :func:`frame_html` rounds)."""
    return empty if frame.empty else _html_table.frame_text(frame)


def frame_html(frame: pd.DataFrame, empty: str) -> str:
    """A DataFrame as a bordered table for people, or ``empty`` in italics when it has no rows.

    Every text is escaped; a ``*_ms`` column shows three significant digits, a ``*_rate`` one
    a percent, a time column the second (the frame keeps its full precision).
    """
    if frame.empty:
        return f"<i>{escape(empty)}</i>"
    return frame_table(frame)


def durations_png(frame: pd.DataFrame) -> bytes:
    """A PNG plot of each run's duration (ms) by run number, one series per action.

    Uses matplotlib's object API (no pyplot), so no global figure or backend is touched.
    """
    import io

    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 2.4), dpi=80)
    ax = fig.subplots()
    for name, runs in frame.groupby("action", sort=True):
        ax.plot(runs["run_id"], runs["duration_ms"], "o-", markersize=3, label=str(name))
    ax.set_xlabel("run")
    ax.set_ylabel("duration (ms)")
    if not frame.empty:
        ax.legend(fontsize=8, loc="upper left")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    return buf.getvalue()


def plugin_text(plugin: PluginParts) -> str:
    """The plain-text twin of :func:`plugin_html`: one line per kind of part."""
    head = f"Plugin {plugin.name!r} v{plugin.version}"
    lines = [f"{head}: {plugin.description}" if plugin.description else head]
    lines += [f"  {label}: {names}" for label, names in _plugin_parts(plugin)]
    return "\n".join(lines)


def state_text(state: StateView) -> str:
    """The plain-text twin of :func:`state_html`: values, usable actions, recent message count."""
    lines = ["State"] + [f"  {k}: {_short(state.mask(str(v)))}" for k, v in state.values.items()]
    lines.append(f"  actions: {', '.join(state.actions) or 'none'}")
    lines.append(f"  recent messages: {len(state.recent_messages)}")
    return "\n".join(lines)
