"""Run traces exported to OpenTelemetry: ``pip install 'eliza_nb[otel]'``.

:func:`export_traces` makes every span of a runtime's traces an OpenTelemetry span of the
configured tracer provider (or the one given), with the same parent and child links, start and
end times and status, so Jaeger, Honeycomb, Langfuse or any OTLP collector shows eliza_nb runs
next to the rest of an application. Attributes are prefixed ``eliza.``; model spans also carry
the GenAI names (``gen_ai.operation.name``, ``gen_ai.system``, ``gen_ai.request.model``,
``gen_ai.prompt``, ``gen_ai.completion``). What is exported is what the trace records hold:
masked, long texts cut.

Only this module imports OpenTelemetry, and only when :func:`export_traces` is called.

Example:
    >>> from opentelemetry.sdk.trace import TracerProvider
    >>> from eliza_nb import AgentRuntime
    >>> from eliza_nb.otel import export_traces
    >>> rt = AgentRuntime(use_env=False)
    >>> exporter = export_traces(rt, TracerProvider())
    >>> rt.tracer.enabled
    True
    >>> exporter.close(); rt.close()
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from eliza_nb.errors import ConfigurationError
from eliza_nb.tracing import OpenSpan, SpanRow, attributes_of

if TYPE_CHECKING:
    from eliza_nb.runtime import AgentRuntime

__all__ = ["OtelExport", "export_traces"]

_OPERATIONS = {"TEXT_EMBEDDING": "embeddings"}


def export_traces(runtime: AgentRuntime, tracer_provider: Any = None) -> OtelExport:
    """Send ``runtime``'s spans to OpenTelemetry from now on (and turn tracing on).

    Args:
        runtime: The runtime whose traces to export.
        tracer_provider: An ``opentelemetry.sdk.trace.TracerProvider``; default: the global one
            (``opentelemetry.trace.get_tracer_provider()``).

    Raises:
        ConfigurationError: ``opentelemetry-sdk`` is not installed (the ``otel`` extra).
    """
    try:
        from opentelemetry import trace
    except ImportError:
        raise ConfigurationError(
            "OpenTelemetry is not installed: pip install 'eliza_nb[otel]'"
        ) from None
    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    export = OtelExport(runtime, provider.get_tracer("eliza_nb"))
    runtime.tracer.listeners.append(export)
    runtime.tracer.enabled = True
    return export


class OtelExport:
    """The listener that mirrors a runtime's spans as OpenTelemetry spans; :meth:`close` it."""

    def __init__(self, runtime: AgentRuntime, tracer: Any) -> None:
        self.runtime = runtime
        self.tracer = tracer
        self._open: dict[str, Any] = {}

    def start(self, span: OpenSpan) -> None:
        """Open the OpenTelemetry twin of ``span``, under its parent's twin."""
        from opentelemetry import trace

        parent = self._open.get(span.parent_id or "")
        context = trace.set_span_in_context(parent) if parent is not None else None
        kind = trace.SpanKind.CLIENT if span.kind == "model" else trace.SpanKind.INTERNAL
        self._open[span.span_id] = self.tracer.start_span(
            f"{span.kind} {span.name}",
            context=context,
            kind=kind,
            start_time=int(span.started * 1e9),
        )

    def end(self, span: OpenSpan, row: SpanRow) -> None:
        """Close the twin with the finished span's attributes, status and end time."""
        from opentelemetry.trace import Status, StatusCode

        twin = self._open.pop(span.span_id, None)
        if twin is None:
            return
        twin.set_attributes(_attributes(row))
        if row.status == "error":
            twin.set_status(Status(StatusCode.ERROR, row.error_code or "error"))
        twin.end(end_time=int((row.started + row.duration_ms / 1000) * 1e9))

    def close(self) -> None:
        """Stop exporting (spans already exported stay with the provider)."""
        if self in self.runtime.tracer.listeners:
            self.runtime.tracer.listeners.remove(self)


def _attributes(row: SpanRow) -> dict[str, Any]:
    """OpenTelemetry attributes: scalars as they are, anything else as JSON text."""
    out: dict[str, Any] = {"eliza.kind": row.kind, "eliza.trace_id": row.trace_id}
    if row.error_code:
        out["eliza.error_code"] = row.error_code
    values = attributes_of(row)
    for key, value in values.items():
        out[f"eliza.{key}"] = _scalar(value)
    if row.kind == "model":
        out |= _genai(row, values)
    return {k: v for k, v in out.items() if v is not None}


def _genai(row: SpanRow, values: dict[str, Any]) -> dict[str, Any]:
    params = values.get("params") or {}
    return {
        "gen_ai.operation.name": _OPERATIONS.get(row.name, "chat"),
        "gen_ai.system": values.get("plugin"),
        "gen_ai.request.model": row.name,
        "gen_ai.prompt": params.get("prompt") if isinstance(params, dict) else None,
        "gen_ai.completion": _scalar(values.get("answer")),
    }


def _scalar(value: Any) -> Any:
    if value is None or isinstance(value, str | bool | int | float):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)
