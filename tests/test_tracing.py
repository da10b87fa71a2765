"""Run traces: one tree of spans per message, action run and batch row, kept with the runs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from eliza_nb import (
    AgentRuntime,
    ElizaError,
    Plugin,
    Provider,
    ProviderResult,
    ValidationError,
    action,
    evaluator,
)
from eliza_nb.testing import DeterministicModel
from eliza_nb.traces import TRACE_COLUMNS
from eliza_nb.tracing import ATTRIBUTE_LIMIT, attributes_of


@action(similes=["HI"], description="Greet")
def greet(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    return f"hello {options.get('name', 'you')}"


@action()
def boom(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    raise RuntimeError("exploded")


@action()
async def hang(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    await asyncio.Event().wait()


@evaluator(always_run=True)
def reflect(rt: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    return None


def clock(rt: Any, message: Any, state: Any) -> ProviderResult:
    return ProviderResult(text="It is noon.", values={"time": "12:00"})


PLUGIN = Plugin(
    name="p",
    actions=[greet, boom, hang],
    providers=[Provider(name="TIME", get=clock)],
    evaluators=[reflect],
)


@pytest.fixture
async def traced() -> Any:
    rt = AgentRuntime(settings={"TRACING": "true"}, use_env=False)
    await rt.register_plugin(PLUGIN)
    yield rt
    await rt.aclose()


async def test_tracing_is_off_by_default_and_the_frame_keeps_its_schema(
    runtime: AgentRuntime,
) -> None:
    await runtime.register_plugin(PLUGIN)
    assert (await runtime.execute_action("GREET")).trace_id is None
    frame = runtime.traces_frame()
    assert frame.empty
    assert [(c, str(t)) for c, t in frame.dtypes.items()] == [
        (name, "datetime64[ns, UTC]" if dtype.startswith("datetime") else dtype)
        for name, dtype in TRACE_COLUMNS
    ]


async def test_an_action_run_is_a_trace_with_its_options_and_result(traced: AgentRuntime) -> None:
    result = await traced.execute_action("hi", "x", options={"name": "Ada"})
    frame = traced.traces_frame(result.trace_id)
    ((_, span),) = frame.iterrows()
    assert (span["kind"], span["name"], span["status"], span["parent_id"]) == (
        "action",
        "GREET",
        "ok",
        None,
    )
    assert span["trace_id"] == span["span_id"] == result.trace_id
    assert span["attributes"]["options"] == {"name": "Ada"}
    assert span["attributes"]["result"] == {"success": True, "text": "hello Ada"}
    assert span["attributes"]["run_id"] == result.run_id
    assert span["duration_ms"] >= 0 and isinstance(span["started_at"], pd.Timestamp)


async def test_failures_and_cancellations_are_red_with_their_code(traced: AgentRuntime) -> None:
    failed = await traced.execute_action("BOOM")
    assert traced.trace(failed.trace_id).root.error_code == "HANDLER_ERROR"
    with pytest.raises(asyncio.CancelledError):
        task = asyncio.ensure_future(traced.execute_action("HANG"))
        await asyncio.sleep(0)
        task.cancel()
        await task
    last = traced.trace("last").root
    assert (last.name, last.status, last.error_code) == ("HANG", "error", "CANCELLED")


async def test_a_message_through_the_agent_loop_is_one_tree(traced: AgentRuntime) -> None:
    model = DeterministicModel()
    await traced.register_plugin(model.plugin)
    results = await traced.process_message("please greet me")
    assert [r.action for r in results] == ["TEXT_LARGE", "GREET"]
    assert {r.trace_id for r in results} == {results[0].trace_id}
    trace = traced.trace(results[0].trace_id)
    kinds = {(depth, s.kind) for depth, s in trace.walk()}
    assert trace.root.kind == "message"
    for expected in [
        (1, "memory"),
        (1, "state"),
        (2, "provider"),
        (1, "prompt"),
        (1, "model"),
        (1, "parse"),
        (1, "chain"),
        (2, "action"),
        (1, "evaluator"),
    ]:
        assert expected in kinds, expected
    spans = {s.kind: s for s in trace.spans}
    prompt = attributes_of(spans["prompt"])["prompt"]
    assert "It is noon." in prompt
    answer = attributes_of(spans["parse"])["answer"]
    assert "<actions>GREET</actions>" in answer


async def test_a_should_respond_step_is_its_own_span(traced: AgentRuntime) -> None:
    await traced.register_plugin(DeterministicModel().plugin)
    await traced.set_setting("CHECK_SHOULD_RESPOND", True)
    results = await traced.process_message("hello")
    trace = traced.trace(results[0].trace_id)
    gate = next(s for s in trace.spans if s.kind == "should_respond")
    assert attributes_of(gate) == {"verdict": "RESPOND"}


async def test_a_failing_provider_is_a_failed_span_and_the_state_goes_on(
    traced: AgentRuntime,
) -> None:
    def broken(*args: Any) -> str:
        raise OSError("feed down")

    await traced.register_provider(Provider(name="FEED", get=broken))
    await traced.process_message("hi")
    frame = traced.traces_frame()
    feed = frame[frame["name"] == "FEED"].iloc[0]
    assert (feed["status"], feed["error_code"]) == ("error", "PROVIDER_ERROR")
    assert frame[frame["kind"] == "state"]["status"].tolist() == ["ok"]


async def test_secrets_are_masked_and_long_texts_cut(traced: AgentRuntime) -> None:
    await traced.set_setting("SERVICE_TOKEN", "tok-very-secret-99")
    long = "x" * (ATTRIBUTE_LIMIT + 50)
    result = await traced.execute_action("GREET", long, options={"name": "tok-very-secret-99"})
    (attributes,) = traced.traces_frame(result.trace_id)["attributes"]
    assert attributes["options"] == {"name": "***"}
    assert attributes["text"].endswith("... [50 more characters]")
    assert "tok-very-secret-99" not in traced.trace(result.trace_id)._repr_html_()


async def test_each_batch_row_is_a_trace(traced: AgentRuntime) -> None:
    frame = await traced.run_batch("GREET", ["a", "b", "c"], progress=False)
    traces = traced.traces_frame()
    assert traces["trace_id"].nunique() == 3 and set(traces["kind"]) == {"action"}
    assert len(traced.traces_frame(last=2)) == 2
    assert len(frame) == 3


async def test_tracing_follows_the_setting(runtime: AgentRuntime) -> None:
    await runtime.register_plugin(PLUGIN)
    await runtime.set_setting("TRACING", "on")
    assert (await runtime.execute_action("GREET")).trace_id is not None
    await runtime.set_setting("TRACING", "off")
    assert (await runtime.execute_action("GREET")).trace_id is None
    assert len(runtime.traces_frame()) == 1


async def test_traces_outlive_the_kernel_with_a_database_file(tmp_path: Path) -> None:
    path = tmp_path / "agent.db"
    first = AgentRuntime(database=path, settings={"TRACING": True}, use_env=False)
    await first.register_plugin(PLUGIN)
    trace_id = (await first.execute_action("GREET")).trace_id
    await first.aclose()
    again = AgentRuntime(database=path, use_env=False)
    try:
        assert again.trace(trace_id).root.name == "GREET"
        assert again.traces_frame()["trace_id"].tolist() == [trace_id]
    finally:
        await again.aclose()


async def test_spans_in_memory_stay_bounded() -> None:
    rt = AgentRuntime(settings={"TRACING": True, "MAX_RECORDS": 100}, use_env=False)
    try:
        await rt.register_plugin(PLUGIN)
        for _ in range(50):
            await rt.execute_action("GREET")
        assert len(rt.metrics.spans) <= 11  # a tenth of MAX_RECORDS, cut in chunks
    finally:
        await rt.aclose()


async def test_the_timeline_shows_every_span_and_the_failures_in_red(traced: AgentRuntime) -> None:
    await traced.register_plugin(DeterministicModel().plugin)
    results = await traced.process_message("boom now")
    html = traced.trace(results[0].trace_id)._repr_html_()
    for name in ("compose_state", "TIME", "TEXT_LARGE", "BOOM", "reflect".upper()):
        assert name in html, name
    assert "#e45756" in html and "HANDLER_ERROR" in html
    assert ">prompt</summary>" in html and "answer · decision</summary>" in html
    assert "<b>prompt</b><pre" in html
    assert repr(traced.trace(results[0].trace_id)).startswith("Trace(")


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda rt: rt.trace("nope"), ElizaError, "No trace 'nope'"),
        (lambda rt: rt.trace(42), ValidationError, "trace_id must be a trace id string"),
        (lambda rt: rt.traces_frame(last=0), ValidationError, "last"),
    ],
)
async def test_bad_trace_requests_are_clear_errors(
    traced: AgentRuntime, call: Any, error: type[Exception], match: str
) -> None:
    await traced.execute_action("GREET")
    with pytest.raises(error, match=match) as info:
        call(traced)
    if error is ElizaError:
        assert info.value.code == "TRACE_NOT_FOUND"  # type: ignore[attr-defined]


async def test_no_trace_yet_says_how_to_turn_tracing_on(runtime: AgentRuntime) -> None:
    with pytest.raises(ElizaError, match="turn tracing on"):
        runtime.trace()


async def test_a_slow_provider_span_carries_the_recorded_code(traced: AgentRuntime) -> None:
    async def slow(*args: Any) -> str:
        await asyncio.Event().wait()
        return "never"

    await traced.register_provider(Provider(name="SLOW", get=slow))
    await traced.set_setting("PROVIDER_TIMEOUT", 0.01)
    await traced.compose_state("hi")
    frame = traced.traces_frame()
    slow_span = frame[frame["name"] == "SLOW"].iloc[0]
    assert slow_span["error_code"] == "TIMEOUT" == traced.errors_frame()["code"].iloc[-1]


async def test_a_failed_model_span_carries_the_step_s_code(traced: AgentRuntime) -> None:
    await traced.register_plugin(DeterministicModel([RuntimeError("driver crashed")]).plugin)
    (step,) = await traced.process_message("hi")
    model = next(s for s in traced.trace(step.trace_id).spans if s.name == "TEXT_LARGE")
    assert model.error_code == step.error_code == "MODEL_ERROR"
