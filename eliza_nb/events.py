"""Events: what the runtime announces, who listens, and the last events for ``%eliza events``.

A plugin listens with ``events={EventType.MESSAGE_RECEIVED: [handler, ...]}`` (elizaOS 1.x),
or anyone with ``runtime.on(name, handler)``. A handler is ``handler(payload)`` or
``handler(payload, runtime)``, sync or async; ``payload`` is a dict. Handlers run one after the
other in registration order; one that raises is logged (code ``EVENT_HANDLER_ERROR`` in the
error log) and the next still runs: an event never stops the emitter.

``ACTION_STARTED`` and ``ACTION_COMPLETED`` are emitted only while someone listens to them (or
``runtime.events.trace_actions`` is true), so an unobserved ``execute_action`` pays one
attribute check.

Example:
    >>> from eliza_nb import AgentRuntime, EventType
    >>> rt = AgentRuntime(use_env=False)
    >>> seen = []
    >>> _ = rt.on("PING", lambda payload: seen.append(payload["n"]))
    >>> rt.run_sync(rt.emit("PING", {"n": 1}))
    >>> seen
    [1]
"""

from __future__ import annotations

import inspect
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from eliza_nb._calls import accepted_arity
from eliza_nb._checks import int_arg, shown
from eliza_nb._handler_table import HandlerTable
from eliza_nb._tables import UTC_NS, table
from eliza_nb.errors import Code, ValidationError
from eliza_nb.handler_output import error_info
from eliza_nb.tracing import NO_TRACER, Tracer

if TYPE_CHECKING:
    import pandas as pd

    from eliza_nb.protocols import PluginRuntime

__all__ = [
    "ACTION_EVENTS",
    "EVENT_COLUMNS",
    "EventEmitter",
    "EventHandler",
    "EventRecord",
    "EventType",
    "event_key",
    "normalize_events",
]

log = logging.getLogger("eliza_nb")
EventHandler = Callable[..., Any]


class EventType(StrEnum):
    """The events the runtime emits (plugins may emit their own names too)."""

    MESSAGE_RECEIVED = "MESSAGE_RECEIVED"
    ACTION_STARTED = "ACTION_STARTED"
    ACTION_COMPLETED = "ACTION_COMPLETED"
    EVALUATOR_COMPLETED = "EVALUATOR_COMPLETED"
    PLUGIN_REGISTERED = "PLUGIN_REGISTERED"
    PLUGIN_UNREGISTERED = "PLUGIN_UNREGISTERED"
    SETTING_CHANGED = "SETTING_CHANGED"


ACTION_EVENTS = frozenset({EventType.ACTION_STARTED, EventType.ACTION_COMPLETED})
EVENT_COLUMNS = (
    ("seq", "int64"),
    ("timestamp", UTC_NS),
    ("event", "object"),
    ("handlers", "int64"),
    ("failures", "int64"),
    ("payload", "object"),
)
_SCALARS = (str, int, float, bool, type(None))


def event_key(name: object) -> str:
    """The canonical event name: an ``EventType`` or a string, upper case.

    Raises:
        ValidationError: ``name`` is not a non-empty string.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValidationError(
            f"an event name must be an EventType or a string, got {shown(name)}", field="event"
        )
    return str(name).strip().upper()


def normalize_events(plugin: str, events: object) -> dict[str, list[EventHandler]]:
    """Check a plugin's ``events`` mapping (name -> handler or list of handlers).

    Raises:
        ValidationError: not a mapping, a bad name, or a handler that is not callable.
    """
    if not isinstance(events, Mapping):
        raise ValidationError(
            f"Plugin {plugin!r}: field 'events' must be a dict of event name "
            f"-> list of handlers, got {type(events).__name__}",
            field="events",
            plugin=plugin,
        )
    out: dict[str, list[EventHandler]] = {}
    for name, handlers in events.items():
        key = event_key(name)
        items = [handlers] if callable(handlers) else handlers
        if (
            isinstance(items, str | bytes)
            or not isinstance(items, Sequence)
            or not all(callable(h) for h in items)
        ):
            raise ValidationError(
                f"Plugin {plugin!r}: event {key} needs a list of functions "
                "handler(payload[, runtime])",
                field="events",
                plugin=plugin,
            )
        out[key] = list(items)
    return out


class _Listening(Protocol):
    """What ``add_plugin`` reads of a ``Plugin``."""

    @property
    def name(self) -> str: ...
    @property
    def events(self) -> Mapping[str, Sequence[EventHandler]]: ...


@dataclass(frozen=True, slots=True)
class _Listener:
    handler: EventHandler
    owner: str
    arity: int


def _owner(listener: _Listener) -> str:
    return listener.owner


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One emitted event, as kept in ``runtime.events.history``."""

    seq: int
    timestamp: float
    event: str
    payload: dict[str, Any]
    handlers: int
    failures: int


class EventEmitter:
    """Listeners by event name, the emitter, and the last ``keep`` events (``runtime.events``).

    Args:
        runtime: Passed to handlers that take two arguments; its error log records failures.
        keep: How many events ``history`` keeps.
    """

    def __init__(self, runtime: PluginRuntime, keep: int = 200, tracer: Tracer = NO_TRACER) -> None:
        self._runtime = runtime
        #: An emit that has handlers is an ``event`` span of the run trace it happens in.
        self.tracer = tracer
        self._listeners: HandlerTable[_Listener] = HandlerTable(_owner)
        self._seq = itertools.count(1)
        self.history: deque[EventRecord] = deque(maxlen=keep)
        self._trace_actions = False
        self.watching_actions = False
        """True when action events are emitted: checked on the execute_action hot path."""

    # -- listeners ----------------------------------------------------------------------
    def on(self, event: str, handler: EventHandler, owner: str = "local") -> EventHandler:
        """Call ``handler(payload[, runtime])`` on every ``event``; returns the handler."""
        if not callable(handler):
            raise ValidationError(
                f"an event handler must be callable, got {shown(handler)}", field="handler"
            )
        listener = _Listener(handler, owner, accepted_arity(handler, 2))
        self._listeners.add(event_key(event), listener)
        self._refresh()
        return handler

    def off(self, event: str, handler: EventHandler) -> bool:
        """Stop calling ``handler`` on ``event``; True if it was listening."""
        dropped = self._listeners.keep(event_key(event), lambda e: e.handler is not handler)
        self._refresh()
        return dropped > 0

    def add_plugin(self, plugin: _Listening) -> None:
        """Listen with every handler of ``plugin.events``, owned by the plugin."""
        for key, handlers in plugin.events.items():
            for handler in handlers:
                self.on(key, handler, owner=plugin.name)

    def remove_plugin(self, name: str) -> None:
        """Drop every handler a plugin added."""
        self._listeners.remove_owner(name)
        self._refresh()

    def listeners(self, event: str) -> list[EventHandler]:
        """The handlers of ``event``, in the order they run."""
        return [e.handler for e in self._listeners.get(event_key(event))]

    @property
    def trace_actions(self) -> bool:
        """Emit (and keep in history) action events even when no handler listens to them."""
        return self._trace_actions

    @trace_actions.setter
    def trace_actions(self, value: bool) -> None:
        self._trace_actions = bool(value)
        self._refresh()

    def _refresh(self) -> None:
        self.watching_actions = self._trace_actions or any(
            self._listeners.get(k) for k in ACTION_EVENTS
        )

    # -- emitting -----------------------------------------------------------------------
    async def emit(self, event: str, payload: Mapping[str, Any] | None = None) -> int:
        """Run every handler of ``event`` with ``payload``; returns how many failed.

        A failing handler is logged and recorded, never raised; cancellation still propagates.
        """
        key = event_key(event)
        # What plugins emit enters the runtime here: masked before handlers and history see it.
        data = self._runtime.settings.masker.mask_value(dict(payload or {}))
        failures = 0
        listeners = self._listeners.get(key)  # replaced, not changed, if a handler adds one
        if listeners:
            with self.tracer.span("event", key, handlers=len(listeners)) as span:
                for entry in listeners:
                    failures += not await self._call(entry, key, data)
                if span is not None and failures:
                    span.fail(Code.EVENT_HANDLER_ERROR)
        self.history.append(
            EventRecord(next(self._seq), time.time(), key, data, len(listeners), failures)
        )
        return failures

    async def _call(self, entry: _Listener, key: str, data: dict[str, Any]) -> bool:
        try:
            value = entry.handler(*(data, self._runtime)[: entry.arity])
            if inspect.isawaitable(value):
                await value
        except Exception as exc:
            info = error_info(exc, code=Code.EVENT_HANDLER_ERROR)
            info = self._runtime.metrics.failure(None, entry.owner, f"on {key}", info)
            log.warning("%s handler of %s failed: %s", entry.owner, key, info.message)
            return False
        return True

    # -- views --------------------------------------------------------------------------
    def frame(self, last: int | None = None) -> pd.DataFrame:
        """The kept events, oldest first: ``seq, timestamp, event, handlers, failures, payload``.

        ``payload`` shows the payload's plain values (text, numbers, names) with secrets
        masked; objects such as messages and results are left out.

        Raises:
            ValidationError: ``last`` is not None or a non-negative int (0 shows them all).
        """
        if last is not None:
            int_arg(last, "last")
        records = list(self.history)[-last:] if last else list(self.history)
        mask = self._runtime.settings.masker.mask
        rows = [
            (r.seq, r.timestamp, r.event, r.handlers, r.failures, mask(_summary(r.payload)))
            for r in records
        ]
        return table(rows, EVENT_COLUMNS)

    def __repr__(self) -> str:
        counts = {k: len(v) for k, v in self._listeners.items()}
        return f"EventEmitter(listeners={counts}, kept={len(self.history)})"


def _summary(payload: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in payload.items() if isinstance(v, _SCALARS))
