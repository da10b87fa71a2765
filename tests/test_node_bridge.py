"""The Node bridge, with the small TS plugin of tests/ts_plugin (plain ES modules, no npm)."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pandas as pd
import pytest

from eliza_nb import AgentRuntime, PluginError
from eliza_nb.npm import find_node
from eliza_nb.testing import DeterministicModel

try:
    find_node()
except PluginError as exc:  # pragma: no cover - the Makefile installs Node where it can
    pytest.skip(f"no usable Node: {exc.message}", allow_module_level=True)

PLUGIN = Path(__file__).parent / "ts_plugin"
SECRET = "sk-ts-secret-value-98765"


@pytest.fixture
async def rt() -> AsyncIterator[AgentRuntime]:
    runtime = AgentRuntime(use_env=False, settings={"TS_PLUGIN_KEY": SECRET})
    model = DeterministicModel(replies=["forty-two"])
    await runtime.register_plugin(model.plugin)
    await runtime.register_npm_plugin(str(PLUGIN))
    yield runtime
    await runtime.aclose()


async def test_the_parts_are_registered_like_python_ones(rt: AgentRuntime) -> None:
    frame = rt.components_frame()
    mine = frame[frame.plugin == "ts-test"]
    assert {"TS_ECHO", "TS_NOOP", "TS_FACT", "TS_COUNTER"} <= set(mine.name)
    assert rt.registry.find("TS_REPEAT") is not None  # a simile


async def test_callback_and_a_17_result_come_back(rt: AgentRuntime) -> None:
    result = await rt.execute_action("TS_ECHO", "hello there")
    assert result.success
    assert [c.text for c in result.responses] == ["echo: hello there"]
    assert result.responses[0].model_extra == {"thought": "repeating"}
    assert result.text == "echoed 11 characters"
    assert result.values == {"echoed": "hello there", "agent": "agent"}
    assert result.data["actionName"] == "TS_ECHO"


async def test_validate_runs_in_node(rt: AgentRuntime) -> None:
    result = await rt.execute_action("TS_ECHO", "please refuse")
    assert result.error_code == "VALIDATION_FAILED"


async def test_settings_come_only_through_get_setting_and_are_masked(rt: AgentRuntime) -> None:
    result = await rt.execute_action("TS_SETTING", "x")
    assert result.text == "setting TS_PLUGIN_KEY is ***"
    assert result.values["value"] == "***"
    assert result.values["fromEnv"] is None
    assert not {"TS_PLUGIN_KEY", "OPENAI_API_KEY"} & set(result.values["envKeys"])


async def test_use_model_is_served_by_the_python_model(rt: AgentRuntime) -> None:
    result = await rt.execute_action("TS_ASK", "life?")
    assert result.text == "forty-two"
    assert [c.text for c in result.responses] == ["forty-two"]


async def test_memories_and_compose_state_answer_from_python(rt: AgentRuntime) -> None:
    result = await rt.execute_action("TS_REMEMBER", "remember this", room_id="r1")
    assert result.values["texts"] == ["noted: remember this"]
    assert result.values["state"] == "Room r1 belongs to agent."
    assert rt.memories_frame()["text"].tolist() == ["noted: remember this"]


async def test_a_provider_composes_state(rt: AgentRuntime) -> None:
    state = await rt.compose_state("hi", ["TS_FACT"], only_include=True, room_id="lobby")
    assert state.text == "Room lobby belongs to agent."
    assert state.values["room"] == "lobby"
    assert state.data["providers"]["TS_FACT"].data == {"checked": True}


async def test_a_failing_provider_is_recorded(rt: AgentRuntime) -> None:
    state = await rt.compose_state("hi", ["TS_BROKEN"], only_include=True)
    assert state.text == ""
    errors = rt.errors_frame()
    assert errors.iloc[-1]["code"] == "PROVIDER_ERROR"
    assert "provider exploded" in errors.iloc[-1]["message"]


async def test_a_thrown_error_is_a_handler_error_with_the_js_stack(rt: AgentRuntime) -> None:
    result = await rt.execute_action("TS_FAIL", "x")
    assert result.error_code == "HANDLER_ERROR"
    assert result.error.message == "TypeError: the TS handler broke"
    assert "ts_plugin/index.js" in result.error.traceback


async def test_a_handler_that_never_resolves_is_cut_by_timeout(rt: AgentRuntime) -> None:
    result = await rt.execute_action("TS_HANG", "x", timeout=0.2)
    assert result.error_code == "TIMEOUT"
    assert (await rt.execute_action("TS_NOOP", "x")).success  # the bridge goes on


async def test_an_unsupported_method_names_itself_and_the_plugin(rt: AgentRuntime) -> None:
    result = await rt.execute_action("TS_UNSUPPORTED", "x")
    assert result.error_code == "HANDLER_ERROR"
    assert "runtime.getTasks is not provided by the eliza_nb bridge (plugin ts-test)" in (
        result.error.message
    )


async def test_a_crash_fails_the_call_and_the_bridge_restarts(rt: AgentRuntime) -> None:
    result = await rt.execute_action("TS_CRASH", "x")
    assert result.error_code == "BRIDGE_ERROR"
    assert "exited with code 3" in result.error.message
    after = await rt.execute_action("TS_ECHO", "again")
    assert after.success and after.text == "echoed 5 characters"
    assert rt.node.bridge is not None and rt.node.bridge.restarts == 1
    assert len(rt.metrics_frame()) == 2  # the failed run is recorded too


async def test_a_killed_process_mid_call_is_a_bridge_error(rt: AgentRuntime) -> None:
    import asyncio

    task = asyncio.ensure_future(rt.execute_action("TS_HANG", "x"))
    await asyncio.sleep(0.05)  # the call is in flight in Node
    assert rt.node.bridge is not None and rt.node.bridge.pid is not None
    os.kill(rt.node.bridge.pid, signal.SIGKILL)
    result = await task
    assert result.error_code == "BRIDGE_ERROR"
    assert "killed by signal 9" in result.error.message
    assert (await rt.execute_action("TS_NOOP", "x")).success


async def test_run_batch_over_a_ts_action(rt: AgentRuntime) -> None:
    inputs = pd.DataFrame({"text": [f"m{i}" for i in range(200)]})
    frame = await rt.run_batch("TS_ECHO", inputs, concurrency=32, progress=False)
    assert frame["success"].all()
    assert frame["text"].tolist()[:2] == ["echoed 2 characters", "echoed 2 characters"]


async def test_the_ts_tests_run_as_plugin_suites(rt: AgentRuntime) -> None:
    frame = await rt.run_plugin_tests("ts-test")
    assert frame[["suite", "test", "passed"]].values.tolist() == [
        ["ts-basics", "agent id is set", True],
        ["ts-basics", "fails on purpose", False],
    ]
    assert "expected failure" in frame["error"].iloc[1]


async def test_a_ts_model_serves_python(rt: AgentRuntime) -> None:
    await rt.unregister_plugin("deterministic-model")  # it serves embeddings too
    assert await rt.use_model("TEXT_EMBEDDING", {"text": "abcd"}) == [4, 1, 0]


async def test_a_folder_without_a_plugin_is_a_plugin_error(tmp_path: Path) -> None:
    (tmp_path / "package.json").write_text('{"name": "not-a-plugin", "version": "1.0.0"}')
    (tmp_path / "index.js").write_text("export const answer = 42;\n")
    async with AgentRuntime(use_env=False) as runtime:
        with pytest.raises(PluginError, match="exports no elizaOS plugin") as info:
            await runtime.register_npm_plugin(str(tmp_path))
    assert "answer" in info.value.message


async def test_unregistering_keeps_the_runtime_usable(rt: AgentRuntime) -> None:
    await rt.unregister_plugin("ts-test")
    assert rt.registry.find("TS_ECHO") is None
    assert not rt.node.packages
