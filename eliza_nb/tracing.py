"""Run traces: a tree of spans for each message, action run and batch row.

A span is one step of a run (``message``, ``should_respond``, ``state``, ``provider``,
``prompt``, ``model``, ``parse``, ``action``, ``evaluator``, ``memory``, ``event``): when it
started, how long it took, whether it failed and with which code, and its inputs and outputs as
``attributes`` (the prompt, the model's answer, an action's options and result), masked like
every record and each text cut at :data:`ATTRIBUTE_LIMIT` characters.

The current span lives in a :class:`contextvars.ContextVar`, so a span opened inside another
becomes its child, across ``await`` and into the tasks ``asyncio.gather`` starts. A span with
no parent starts a new trace. The runtime opens spans at its choke points only (the dispatcher's
run, the message loop's stages, ``call_model``, the memory manager, the event emitter): each is
one ``with tracer.span(...)`` around code that runs anyway.

Tracing costs a few microseconds per span, so it is off by default in scripts (the setting
``TRACING`` or ``runtime.tracer.enabled = True`` turns it on) and on in the kernel
(``%load_ext eliza_nb``). Finished spans go to the run recorder (``runtime.metrics``), which
keeps them with the runs: the same flush to the file store, the same bounded window in memory.
Listeners (``tracer.listeners``) see every span start and end: the OpenTelemetry export of
:mod:`eliza_nb.otel` is one.
"""

from __future__ import annotations

import asyncio
import contextvars
import itertools
import json
import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from eliza_nb._checks import printable
from eliza_nb.errors import ElizaError

if TYPE_CHECKING:
    from eliza_nb.settings import Masker

__all__ = [
    "ATTRIBUTE_LIMIT",
    "KINDS",
    "NO_TRACER",
    "OpenSpan",
    "SpanListener",
    "SpanRow",
    "Tracer",
    "current_span",
    "tracing_on",
]

#: Characters kept of each text attribute (a prompt, an answer); the rest is cut with a note.
ATTRIBUTE_LIMIT = 8_000
#: The span kinds the runtime writes.
KINDS = (
    "message",
    "should_respond",
    "state",
    "provider",
    "prompt",
    "model",
    "parse",
    "action",
    "chain",
    "evaluator",
    "memory",
    "event",
)

_perf = time.perf_counter
_ids = itertools.count(1)
_BASE = os.urandom(4).hex()  # ids unique across processes, readable within one


def _new_id() -> str:
    return f"{_BASE}{next(_ids):08x}"


class SpanRow(NamedTuple):
    """One finished span, as the recorder keeps it."""

    trace_id: str
    span_id: str
    parent_id: str | None
    kind: str
    name: str
    started: float  # epoch seconds, UTC
    duration_ms: float
    status: str  # "ok" or "error"
    error_code: str | None
    #: Masked and cut: a dict of plain values in memory, its JSON text once stored.
    attributes: dict[str, Any] | str


SPAN_COLUMNS = SpanRow._fields


class OpenSpan:
    """A span being measured: add inputs and outputs with :meth:`set`, a failure with
    :meth:`fail`."""

    __slots__ = (
        "attributes",
        "error_code",
        "kind",
        "name",
        "parent_id",
        "span_id",
        "started",
        "t0",
        "trace_id",
    )

    def __init__(self, kind: str, name: str, parent: OpenSpan | None) -> None:
        self.kind, self.name = kind, name
        self.span_id = _new_id()
        self.trace_id: str = parent.trace_id if parent is not None else self.span_id
        self.parent_id: str | None = parent.span_id if parent is not None else None
        self.attributes: dict[str, Any] = {}  # the scope's own dict, filled by set()
        self.error_code: str | None = None
        self.started = time.time()
        self.t0 = _perf()

    def set(self, **attributes: Any) -> None:
        """Keep these inputs or outputs on the span (masked and cut when it ends)."""
        self.attributes.update(attributes)

    def fail(self, code: str | None) -> None:
        """Mark the span failed with ``code`` (None: success)."""
        self.error_code = code


class _Off:
    """The scope of a span while tracing is off: nothing measured, nothing kept."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


_OFF = _Off()


class _Scope:
    """One span's ``with`` block (a class: a generator-based context manager costs twice)."""

    __slots__ = ("attributes", "kind", "name", "span", "token", "tracer")

    def __init__(self, tracer: Tracer, kind: str, name: str, attributes: dict[str, Any]) -> None:
        self.tracer, self.kind, self.name, self.attributes = tracer, kind, name, attributes

    def __enter__(self) -> OpenSpan:
        span = self.span = OpenSpan(self.kind, self.name, _CURRENT.get())
        span.attributes = self.attributes
        for listener in self.tracer.listeners:
            listener.start(span)
        self.token = _CURRENT.set(span)
        return span

    def __exit__(self, kind: object, exc: BaseException | None, tb: object) -> None:
        span = self.span
        _CURRENT.reset(self.token)
        if exc is not None and span.error_code is None:
            span.error_code = error_code_of(exc)
        self.tracer._end(span)


class SpanListener(Protocol):
    """Told of every span: when it starts (open) and when it ends (with its row)."""

    def start(self, span: OpenSpan) -> None: ...

    def end(self, span: OpenSpan, row: SpanRow) -> None: ...


_CURRENT: contextvars.ContextVar[OpenSpan | None] = contextvars.ContextVar(
    "eliza_nb_span", default=None
)


def current_span() -> OpenSpan | None:
    """The span the calling code runs in, or None."""
    return _CURRENT.get()


def error_code_of(exc: BaseException) -> str:
    """The code a span records for an exception that left it."""
    code = getattr(exc, "code", None)
    if isinstance(exc, ElizaError) or isinstance(code, str):  # our stage errors carry one too
        return str(code)
    if isinstance(exc, asyncio.CancelledError | KeyboardInterrupt):
        return "CANCELLED"
    return type(exc).__name__


class Tracer:
    """Opens spans and hands the finished ones to ``sink`` (the recorder's ``span``).

    Args:
        sink: Called with each finished :class:`SpanRow`.
        masker: Masks the attributes when a span ends.
        enabled: Whether spans are measured at all (off: :meth:`span` yields None).
    """

    __slots__ = ("enabled", "listeners", "masker", "sink")

    def __init__(
        self, sink: Callable[[SpanRow], object], masker: Masker | None, enabled: bool = False
    ) -> None:
        self.sink = sink
        self.masker = masker
        self.enabled = enabled
        self.listeners: list[SpanListener] = []

    def span(self, kind: str, name: str, **attributes: Any) -> _Scope | _Off:
        """Measure a ``with`` block as a span of ``kind`` (a child of the current span).

        ``with tracer.span(...) as span`` gives the :class:`OpenSpan` (None when tracing is
        off). An exception that leaves the block marks the span failed with its code
        (``ElizaError.code``, ``CANCELLED``, else its type name) and goes on.
        """
        return _Scope(self, kind, name, attributes) if self.enabled else _OFF

    def _end(self, span: OpenSpan) -> None:
        duration = (_perf() - span.t0) * 1000.0
        code = span.error_code
        row = SpanRow(
            span.trace_id,
            span.span_id,
            span.parent_id,
            span.kind,
            span.name,
            span.started,
            duration,
            "ok" if code is None else "error",
            code,
            self._attributes(span.attributes),
        )
        self.sink(row)
        for listener in self.listeners:
            listener.end(span, row)

    def _attributes(self, attributes: dict[str, Any]) -> dict[str, Any]:
        """Plain values only (a copy: later changes to a handler's data do not reach the
        record), masked now, while the secrets of this moment are known; JSON when stored."""
        if not attributes:
            return {}
        clean = {k: _cut(v) for k, v in attributes.items()}
        return self.masker.mask_value(clean) if self.masker is not None else clean


class _Settings(Protocol):
    def get(self, key: str, default: Any = None) -> Any: ...


def tracing_on(settings: _Settings) -> bool:
    """Whether the ``TRACING`` setting turns tracing on (``true``, ``1``, ``yes``, ``on``)."""
    value = settings.get("TRACING")
    if isinstance(value, bool):
        return value
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


#: A tracer that is always off: what a part built without a runtime uses.
NO_TRACER = Tracer(lambda row: None, None)


def _cut(value: Any, depth: int = 0) -> Any:
    """A JSON-able form of ``value`` with long texts cut at :data:`ATTRIBUTE_LIMIT`."""
    kind = type(value)  # exact types first: this runs for every attribute of every span
    if kind is str:
        if len(value) <= ATTRIBUTE_LIMIT:
            return value
        return value[:ATTRIBUTE_LIMIT] + f"... [{len(value) - ATTRIBUTE_LIMIT} more characters]"
    if value is None or kind is int or kind is float or kind is bool:
        return value
    if depth < _DEPTH and isinstance(value, dict):
        return {str(k): _cut(v, depth + 1) for k, v in value.items()}
    if depth < _DEPTH and isinstance(value, list | tuple):
        return [_cut(v, depth + 1) for v in value[:_ITEMS]]
    return _cut(printable(value), _DEPTH)  # anything else (enums, models, objects) as text


_DEPTH, _ITEMS = 6, 200  # nesting and items kept of a container attribute


def attributes_json(attributes: dict[str, Any] | str) -> str:
    """A span's attributes as the JSON text the store keeps."""
    if isinstance(attributes, str):
        return attributes
    return json.dumps(attributes, default=printable, ensure_ascii=False)


def attributes_of(row: SpanRow) -> dict[str, Any]:
    """The attributes of a span (in memory or stored) as a dict."""
    if isinstance(row.attributes, dict):
        return row.attributes
    try:
        value = json.loads(row.attributes)
    except ValueError:
        return {"attributes": row.attributes}
    return value if isinstance(value, dict) else {"attributes": value}
