"""Run traces exported to OpenTelemetry, checked with the SDK's in-memory exporter."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from eliza_nb import AgentRuntime, Plugin, action
from eliza_nb.otel import export_traces
from eliza_nb.testing import DeterministicModel


@action()
def greet(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    return "hello"


@action()
def boom(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    raise RuntimeError("no")


@pytest.fixture
def exported() -> Any:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    rt = AgentRuntime(use_env=False)
    rt.run_sync(rt.register_plugin(Plugin(name="p", actions=[greet, boom])))
    export = export_traces(rt, provider)
    yield rt, exporter, export
    rt.close()


def test_spans_keep_their_tree_times_and_status(exported: Any) -> None:
    rt, exporter, _ = exported
    rt.run_sync(rt.register_plugin(DeterministicModel().plugin))
    rt.run_sync(rt.process_message("greet me"))
    rt.run("BOOM")
    spans = {s.name: s for s in exporter.get_finished_spans()}
    root = spans["message greet me"]
    assert root.parent is None
    action = spans["action GREET"]
    chain = spans["chain GREET"]
    assert action.parent.span_id == chain.context.span_id
    assert chain.parent.span_id == root.context.span_id
    assert action.context.trace_id == root.context.trace_id
    assert root.start_time <= action.start_time <= action.end_time <= root.end_time
    failed = spans["action BOOM"]
    assert failed.status.status_code == StatusCode.ERROR
    assert failed.attributes["eliza.error_code"] == "HANDLER_ERROR"


def test_model_spans_carry_genai_names(exported: Any) -> None:
    rt, exporter, _ = exported
    rt.run_sync(rt.register_plugin(DeterministicModel().plugin))
    rt.run_sync(rt.process_message("hello"))
    model = next(s for s in exporter.get_finished_spans() if s.name == "model TEXT_LARGE")
    attributes = model.attributes
    assert attributes["gen_ai.operation.name"] == "chat"
    assert attributes["gen_ai.system"] == "deterministic-model"
    assert attributes["gen_ai.request.model"] == "TEXT_LARGE"
    assert "<response>" in attributes["gen_ai.prompt"]
    assert "<response>" in attributes["gen_ai.completion"]


def test_closing_stops_the_export(exported: Any) -> None:
    rt, exporter, export = exported
    export.close()
    rt.run("GREET")
    assert exporter.get_finished_spans() == ()
    assert len(rt.traces_frame()) == 1  # the runtime still traces


def test_without_the_extra_nothing_imports_opentelemetry() -> None:
    code = (
        "import sys, eliza_nb\n"
        "rt = eliza_nb.AgentRuntime(settings={'TRACING': True}, use_env=False)\n"
        "rt.run_sync(rt.process_message('hi'))\n"
        "rt.close()\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')], 'imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_without_the_sdk_export_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    from eliza_nb import ConfigurationError

    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    rt = AgentRuntime(use_env=False)
    try:
        with pytest.raises(ConfigurationError, match=r"pip install 'eliza_nb\[otel\]'"):
            export_traces(rt)
    finally:
        rt.close()
