"""Events: plugin listeners, what the runtime emits, failing handlers, history and the flag."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from eliza_nb import AgentRuntime, EventType, Plugin, ValidationError, action, evaluator
from eliza_nb.events import EVENT_COLUMNS, EventEmitter


@action(name="PING")
async def ping(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> str:
    return "pong"


@action(name="FAIL")
def fail(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    raise RuntimeError("boom")


@evaluator(always_run=True)
def reflect(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    return None


@evaluator(always_run=True)
def broken_reflect(runtime: Any, message: Any, state: Any, options: Any, callback: Any) -> None:
    raise RuntimeError("evaluator broke")


@pytest.fixture
def seen() -> list[tuple[str, dict[str, Any]]]:
    return []


def recorder(seen: list[tuple[str, dict[str, Any]]], name: str) -> Any:
    return lambda payload: seen.append((name, payload))


def test_event_types_are_the_elizaos_names() -> None:
    assert {e.value for e in EventType} == {
        "MESSAGE_RECEIVED",
        "ACTION_STARTED",
        "ACTION_COMPLETED",
        "EVALUATOR_COMPLETED",
        "PLUGIN_REGISTERED",
        "PLUGIN_UNREGISTERED",
        "SETTING_CHANGED",
    }


def test_plugin_events_are_checked_when_the_plugin_is_created() -> None:
    with pytest.raises(ValidationError, match="field 'events' must be a dict"):
        Plugin(name="p", events=[print])  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="event PING needs a list of functions"):
        Plugin(name="p", events={"PING": ["not callable"]})
    with pytest.raises(ValidationError, match="event name"):
        Plugin(name="p", events={"": [print]})
    single = Plugin(name="p", events={"ping": print})  # one handler is accepted as a list
    assert single.events == {"PING": [print]}


async def test_plugin_handlers_receive_payload_and_runtime(runtime: AgentRuntime) -> None:
    got: list[Any] = []

    async def two_args(payload: dict[str, Any], rt: AgentRuntime) -> None:
        got.append((payload["n"], rt is runtime))

    def no_args() -> None:
        got.append("called")

    plugin = Plugin(name="listener", events={"CUSTOM": [two_args, no_args]})
    await runtime.register_plugin(plugin)
    assert await runtime.events.emit("custom", {"n": 1}) == 0
    assert got == [(1, True), "called"]
    await runtime.unregister_plugin("listener")
    await runtime.emit("CUSTOM", {"n": 2})
    assert got == [(1, True), "called"]


async def test_a_failing_handler_is_logged_and_the_others_still_run(
    runtime: AgentRuntime, seen: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    def broken(payload: dict[str, Any]) -> None:
        raise RuntimeError("handler broke")

    await runtime.register_plugin(Plugin(name="bad", events={"X": [broken]}))
    runtime.on("X", recorder(seen, "after"))
    with caplog.at_level(logging.WARNING, logger="eliza_nb"):
        failures = await runtime.events.emit("X", {"k": "v"})
    assert failures == 1
    assert seen == [("after", {"k": "v"})]
    err = runtime.errors_frame().iloc[-1]
    assert (err["code"], err["plugin"], err["action"]) == ("EVENT_HANDLER_ERROR", "bad", "on X")
    assert "handler broke" in caplog.text
    record = runtime.events.history[-1]
    assert (record.event, record.handlers, record.failures) == ("X", 2, 1)


async def test_registration_and_settings_emit_events(
    runtime: AgentRuntime, seen: list[Any]
) -> None:
    for name in ("PLUGIN_REGISTERED", "PLUGIN_UNREGISTERED", "SETTING_CHANGED"):
        runtime.on(name, recorder(seen, name))
    await runtime.register_plugin(Plugin(name="p", actions=[ping]))
    await runtime.set_setting("MODE", "fast")
    await runtime.set_setting("SERVICE_API_KEY", "sk-very-secret")
    await runtime.unregister_plugin("p")
    assert seen == [
        ("PLUGIN_REGISTERED", {"plugin": "p", "version": "0.1.0"}),
        ("SETTING_CHANGED", {"key": "MODE", "value": "fast"}),
        ("SETTING_CHANGED", {"key": "SERVICE_API_KEY", "value": "***"}),
        ("PLUGIN_UNREGISTERED", {"plugin": "p"}),
    ]
    assert "sk-very-secret" not in runtime.events_frame().to_string()


async def test_action_events_surround_an_execution(runtime: AgentRuntime, seen: list[Any]) -> None:
    await runtime.register_plugin(Plugin(name="p", actions=[ping, fail]))
    runtime.on(EventType.ACTION_STARTED, recorder(seen, "started"))
    runtime.on(EventType.ACTION_COMPLETED, recorder(seen, "completed"))
    ok = await runtime.execute_action("ping", "hi")
    bad = await runtime.execute_action("FAIL")
    assert [(n, p["action"]) for n, p in seen] == [
        ("started", "PING"),
        ("completed", "PING"),
        ("started", "FAIL"),
        ("completed", "FAIL"),
    ]
    assert seen[0][1]["text"] == "hi"
    assert seen[1][1]["result"] is ok and seen[1][1]["success"] is True
    assert seen[3][1]["result"] is bad and seen[3][1]["error_code"] == "HANDLER_ERROR"


async def test_nobody_listening_means_no_action_events(runtime: AgentRuntime) -> None:
    await runtime.register_plugin(Plugin(name="p", actions=[ping]))
    assert runtime.events.watching_actions is False
    await runtime.execute_action("PING")
    assert [r.event for r in runtime.events.history] == ["PLUGIN_REGISTERED"]


async def test_the_flag_follows_listeners_and_trace_actions(runtime: AgentRuntime) -> None:
    def handler(payload: dict[str, Any]) -> None:
        return None

    runtime.on("ACTION_COMPLETED", handler)
    assert runtime.events.watching_actions is True
    assert runtime.events.off("ACTION_COMPLETED", handler) is True
    assert runtime.events.off("ACTION_COMPLETED", handler) is False
    assert runtime.events.watching_actions is False
    runtime.events.trace_actions = True
    assert runtime.events.watching_actions is True
    await runtime.register_plugin(Plugin(name="p", actions=[ping]))
    await runtime.execute_action("PING")
    assert [r.event for r in runtime.events.history][-2:] == ["ACTION_STARTED", "ACTION_COMPLETED"]


async def test_messages_and_evaluators_emit_events(runtime: AgentRuntime, seen: list[Any]) -> None:
    await runtime.register_plugin(
        Plugin(name="p", actions=[ping], evaluators=[reflect, broken_reflect])
    )
    for name in ("MESSAGE_RECEIVED", "ACTION_COMPLETED", "EVALUATOR_COMPLETED"):
        runtime.on(name, recorder(seen, name))
    await runtime.process_message("please ping", room_id="lobby")
    names = [n for n, _ in seen]
    assert names == [
        "MESSAGE_RECEIVED",
        "ACTION_COMPLETED",
        "EVALUATOR_COMPLETED",
        "EVALUATOR_COMPLETED",
    ]
    assert seen[0][1]["text"] == "please ping" and seen[0][1]["room_id"] == "lobby"
    assert [(p["evaluator"], p["success"]) for n, p in seen[2:]] == [
        ("REFLECT", True),
        ("BROKEN_REFLECT", False),
    ]


async def test_history_keeps_the_last_events() -> None:
    rt = AgentRuntime(use_env=False)
    emitter = EventEmitter(rt, keep=3)
    for i in range(5):
        await emitter.emit("TICK", {"i": i})
    assert [r.payload["i"] for r in emitter.history] == [2, 3, 4]
    assert [r.seq for r in emitter.history] == [3, 4, 5]
    await rt.aclose()


async def test_events_frame_has_fixed_columns(runtime: AgentRuntime) -> None:
    empty = runtime.events_frame()
    assert list(empty.columns) == [c for c, _ in EVENT_COLUMNS] and empty.empty
    assert str(empty["timestamp"].dtype) == "datetime64[ns, UTC]"
    await runtime.emit("A", {"text": "x", "obj": object()})
    await runtime.emit("B")
    frame = runtime.events_frame()
    assert frame["event"].tolist() == ["A", "B"]
    assert frame["payload"].tolist() == ["text='x'", ""]  # objects are left out
    assert runtime.events_frame(last=1)["event"].tolist() == ["B"]


def test_on_rejects_a_non_callable(runtime: AgentRuntime) -> None:
    with pytest.raises(ValidationError):
        runtime.on("X", 42)  # type: ignore[arg-type]
    assert "EventEmitter" in repr(runtime.events)
