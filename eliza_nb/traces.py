"""Reading run traces back: ``runtime.traces_frame()`` and the ``Trace`` timeline.

The spans of a trace (``eliza_nb.tracing``) come back from the run history (the file store, or
this session's records in memory) as rows; :func:`traces_frame` makes them a DataFrame with
fixed columns and dtypes, and :class:`Trace` is one trace whose notebook display is a
waterfall: one bar per span, nested under its parent, its duration written on it, failures in
red, and the prompt, the model's answer and each action's options and result in collapsible
sections.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from typing import TYPE_CHECKING, Any

from eliza_nb._tables import UTC_NS, table
from eliza_nb.errors import Code, ElizaError
from eliza_nb.tracing import SPAN_COLUMNS, SpanRow, attributes_of

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["TRACE_COLUMNS", "Trace", "trace_not_found", "traces_frame"]

#: The columns of ``traces_frame`` and their dtypes.
TRACE_COLUMNS = (
    ("trace_id", "object"),
    ("span_id", "object"),
    ("parent_id", "object"),
    ("kind", "object"),
    ("name", "object"),
    ("started_at", UTC_NS),
    ("duration_ms", "float64"),
    ("status", "object"),
    ("error_code", "object"),
    ("attributes", "object"),
)


def _rows(rows: Sequence[Sequence[Any]]) -> list[SpanRow]:
    return [SpanRow(*row[: len(SPAN_COLUMNS)]) for row in rows]


def traces_frame(rows: Sequence[Sequence[Any]]) -> pd.DataFrame:
    """One row per span, oldest first; ``attributes`` as dicts, ``started_at`` in UTC."""
    spans = _rows(rows)
    data = [
        (
            s.trace_id,
            s.span_id,
            s.parent_id,
            s.kind,
            s.name,
            s.started,
            s.duration_ms,
            s.status,
            s.error_code,
            dict(attributes_of(s)),  # a copy: the frame is the user's to change
        )
        for s in spans
    ]
    return table(data, TRACE_COLUMNS)


def trace_not_found(trace_id: object, known: int) -> ElizaError:
    """The error for a trace id no record holds."""
    hint = (
        "no trace is recorded yet: turn tracing on (the TRACING setting)"
        if not known
        else ("see runtime.traces_frame() for the recorded ones")
    )
    return ElizaError(
        f"No trace {trace_id!r}: {hint}.",
        code=Code.TRACE_NOT_FOUND,
        details={"trace_id": str(trace_id)},
    )


class Trace:
    """One run trace: its spans as a tree, shown as a timeline in a notebook.

    Attributes:
        trace_id: The trace's id (the root span's id).
        spans: Its ``SpanRow`` records, oldest first.
    """

    def __init__(self, rows: Sequence[Sequence[Any]]) -> None:
        self.spans = _rows(rows)
        if not self.spans:
            raise ValueError("a trace needs at least one span")
        self.trace_id = self.spans[0].trace_id
        ids = {s.span_id for s in self.spans}
        self._children: dict[str | None, list[SpanRow]] = {}
        for span in sorted(self.spans, key=lambda s: s.started):
            parent = span.parent_id if span.parent_id in ids else None
            self._children.setdefault(parent, []).append(span)

    @property
    def root(self) -> SpanRow:
        """The span that started the trace."""
        return self._children[None][0]

    @property
    def duration_ms(self) -> float:
        """How long the whole trace took."""
        start = min(s.started for s in self.spans)
        end = max(s.started + s.duration_ms / 1000 for s in self.spans)
        return (end - start) * 1000

    def walk(self) -> list[tuple[int, SpanRow]]:
        """Every span with its depth, parents before their children, in start order."""
        out: list[tuple[int, SpanRow]] = []
        stack = [(0, s) for s in reversed(self._children.get(None, []))]
        while stack:
            depth, span = stack.pop()
            out.append((depth, span))
            stack += [(depth + 1, c) for c in reversed(self._children.get(span.span_id, []))]
        return out

    def frame(self) -> pd.DataFrame:
        """The spans as ``traces_frame`` rows."""
        return traces_frame(self.spans)

    def __repr__(self) -> str:
        failed = sum(s.status == "error" for s in self.spans)
        return (
            f"Trace({self.trace_id!r}, {self.root.kind} {self.root.name!r}, "
            f"spans={len(self.spans)}, failed={failed}, duration_ms={self.duration_ms:.3g})"
        )

    def _repr_html_(self) -> str:
        start = min(s.started for s in self.spans)
        total = max(self.duration_ms, 1e-6)
        rows = "".join(_bar(depth, s, start, total) for depth, s in self.walk())
        head = (
            f"<div style='margin-bottom:6px'><b>Trace</b> <code>{escape(self.trace_id)}</code> · "
            f"{len(self.spans)} spans · {_ms(self.duration_ms)}</div>"
        )
        return f"<div style='{_BOX}'>{head}{rows}</div>"


_BOX = "font-family:sans-serif;font-size:13px;border:1px solid #ddd;border-radius:6px;padding:8px"
_COLOURS = {
    "message": "#4c78a8",
    "action": "#54a24b",
    "chain": "#54a24b",
    "model": "#b279a2",
    "prompt": "#9d755d",
    "parse": "#9d755d",
    "provider": "#72b7b2",
    "state": "#72b7b2",
    "evaluator": "#eeca3b",
    "should_respond": "#b279a2",
}
_SHOWN = ("prompt", "answer", "options", "result", "text", "params", "decision", "actions")


def _ms(value: float) -> str:
    """Milliseconds for people: 2-3 significant digits."""
    if value >= 100:
        return f"{value:.0f} ms"
    return f"{value:.3g} ms" if value >= 0.001 else f"{value * 1000:.3g} µs"


def _bar(depth: int, span: SpanRow, start: float, total: float) -> str:
    left = (span.started - start) * 1000 / total * 100
    width = max(span.duration_ms / total * 100, 0.4)
    failed = span.status == "error"
    colour = "#e45756" if failed else _COLOURS.get(span.kind, "#bab0ac")
    code = f" <b style='color:#e45756'>{escape(span.error_code or '')}</b>" if failed else ""
    label = (
        f"<div style='padding-left:{depth * 14}px;white-space:nowrap;overflow:hidden;"
        f"text-overflow:ellipsis'><span style='color:#777'>{escape(span.kind)}</span> "
        f"{escape(span.name)}{code}</div>"
    )
    bar = (
        f"<div style='position:relative;height:14px;background:#f4f4f4'>"
        f"<div style='position:absolute;left:{min(left, 99.6):.2f}%;width:{width:.2f}%;"
        f"height:14px;background:{colour};border-radius:2px'></div></div>"
    )
    row = (
        "<div style='display:grid;grid-template-columns:38% 50% 12%;gap:6px;align-items:center;"
        f"margin:2px 0'>{label}{bar}<div style='text-align:right'>{_ms(span.duration_ms)}</div>"
        "</div>"
    )
    return row + _details(depth, span)


def _details(depth: int, span: SpanRow) -> str:
    """One fold-out per span, its summary naming what is inside (prompt, answer, result...)."""
    attributes = attributes_of(span)
    shown = [(k, attributes[k]) for k in _SHOWN if attributes.get(k) not in (None, "", {}, [])]
    if not shown:
        return ""
    sections = "".join(
        f"<div style='margin-top:4px'><b>{escape(k)}</b><pre style='white-space:pre-wrap;"
        f"max-height:20em;overflow:auto;background:#fafafa;padding:4px;margin:2px 0'>"
        f"{escape(_text(v))}</pre></div>"
        for k, v in shown
    )
    summary = " · ".join(escape(k) for k, _ in shown)
    return (
        f"<details style='margin:0 0 2px {depth * 14 + 14}px;color:#555'>"
        f"<summary style='font-size:12px'>{summary}</summary>{sections}</details>"
    )


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, indent=2, ensure_ascii=False, default=str)
