"""eliza_nb.testing: test runtimes, mocks and snapshots for plugin authors."""

from __future__ import annotations

import json
from typing import Any

import pytest

from eliza_nb import (
    Action,
    AgentRuntime,
    ConfigurationError,
    Content,
    Memory,
    Plugin,
    PluginConfig,
    Provider,
    action,
)
from eliza_nb.testing import create_mock_memory, create_mock_runtime, create_test_runtime


@action(similes=["SAY"])
async def echo(runtime: Any, message: Memory, state: Any, options: Any, callback: Any) -> str:
    await callback({"text": message.content.text})
    return message.content.text


def demo_plugin() -> Plugin:
    return Plugin(
        name="demo",
        version="1.0.0",
        actions=[echo, Action(name="FAIL", handler=lambda *a: 1 / 0)],
        providers=[Provider(name="time", get=lambda *a: "noon")],
        config=PluginConfig(required=["API_KEY"]),
    )


async def test_create_test_runtime_registers_plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODE", "from-env")
    rt = await create_test_runtime(settings={"API_KEY": "test"}, plugins=[demo_plugin()])
    try:
        assert isinstance(rt, AgentRuntime)
        assert list(rt.registry.plugins) == ["demo"]
        assert rt.get_setting("API_KEY") == "test"
        assert rt.get_setting("MODE") is None, "the environment is ignored"
        assert (await rt.execute_action("SAY", "hi")).text == "hi"
    finally:
        await rt.aclose()


async def test_create_test_runtime_raises_configuration_errors() -> None:
    with pytest.raises(ConfigurationError, match="Missing required settings: API_KEY"):
        await create_test_runtime(plugins=[demo_plugin()])


async def test_create_test_runtime_with_nothing() -> None:
    rt = await create_test_runtime()
    try:
        assert rt.registry.plugins == {}
        assert rt.snapshot()["plugins"] == {}
    finally:
        await rt.aclose()


def test_create_mock_runtime_calls_handlers_directly() -> None:
    rt = create_mock_runtime({"API_KEY": "k"})
    responses: list[Any] = []

    def callback(content: Any) -> None:
        responses.append(content)

    def handler(runtime: AgentRuntime, message: Memory, state: Any, options: Any, cb: Any) -> str:
        cb({"text": runtime.get_setting("API_KEY")})
        return "done"

    try:
        assert handler(rt, create_mock_memory("hi"), None, {}, callback) == "done"
        assert responses == [{"text": "k"}]
        assert rt.registry.plugins == {}
    finally:
        rt.close()


def test_create_mock_runtime_ignores_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY", "env")
    rt = create_mock_runtime()
    try:
        assert rt.get_setting("API_KEY") is None
    finally:
        rt.close()


def test_create_mock_memory() -> None:
    m = create_mock_memory("hello", room_id="r1", user_id="bob", action="GREET", mood="warm")
    assert isinstance(m, Memory)
    assert (m.room_id, m.user_id) == ("r1", "bob")
    assert m.content == Content(text="hello", action="GREET", mood="warm")
    assert create_mock_memory().content.text == ""
    assert create_mock_memory("x").id != create_mock_memory("x").id


async def scenario() -> dict[str, Any]:
    rt = await create_test_runtime(settings={"API_KEY": "sk-test-123456"}, plugins=[demo_plugin()])
    try:
        await rt.execute_action("ECHO", "one", room_id="r")
        await rt.execute_action("SAY", "two")
        await rt.execute_action("FAIL")
        await rt.messages.create_memory("stored", room_id="r")
        await rt.process_message("echo three", room_id="r")
        return rt.snapshot()
    finally:
        await rt.aclose()


async def test_snapshot_is_stable_across_identical_runs() -> None:
    first, second = await scenario(), await scenario()
    assert first == second
    json.dumps(first)  # JSON-able as it is


async def test_snapshot_contents() -> None:
    snap = await scenario()
    assert snap["agent"] == "agent"
    assert snap["plugins"] == {
        "demo": {
            "version": "1.0.0",
            "actions": ["ECHO", "FAIL"],
            "providers": ["time"],
            "evaluators": [],
            "models": [],
            "events": [],
            "services": [],
        }
    }
    assert snap["settings"] == {"API_KEY": "***"}
    assert snap["metrics"] == {
        "ECHO": {"runs": 3, "successes": 3, "error_codes": {}},
        "FAIL": {"runs": 1, "successes": 0, "error_codes": {"HANDLER_ERROR": 1}},
    }
    assert snap["memories"] == [
        {"table": "messages", "room_id": "r", "user_id": "user", "text": "stored", "action": None},
        {
            "table": "messages",
            "room_id": "r",
            "user_id": "user",
            "text": "echo three",
            "action": None,
        },
        {
            "table": "messages",
            "room_id": "r",
            "user_id": "agent",
            "text": "echo three",
            "action": "ECHO",
        },
    ]
    volatile = {"id", "created_at", "timestamp", "started_at", "duration_ms", "run_id"}
    assert not volatile & keys_of(snap)


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(keys_of(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_of(v) for v in value))
    return set()


async def test_snapshot_differs_when_behaviour_differs() -> None:
    rt = await create_test_runtime(settings={"API_KEY": "k-123"}, plugins=[demo_plugin()])
    try:
        before = rt.snapshot()
        await rt.execute_action("ECHO", "x")
        assert rt.snapshot() != before
    finally:
        await rt.aclose()
